"""The side panel: backbone and feature options, checkpoints (finetuned, sphere mapper), matcher, overlay.

It only shows values and emits what the user changed; the controller turns that into session
updates. ``set_*`` methods update the widgets without emitting.
"""

from __future__ import annotations

from dataclasses import dataclass

from PyQt6.QtCore import QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QStandardItem, QStandardItemModel
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from corrviz.core.feature_spec import CANVAS_MODES, DTYPE_NAMES, FeatureSpec

NO_WEIGHTS_NOTE = ("Grey \"(no weights)\" entries: no weights file was found for them here (hover one "
                   "for where corrviz looked). Weights… chooses a file or the weights folder.")
NO_MASK_TIP = ("{name} is weight-free: it has no mask source (no attention or saliency to separate the object "
               "from the background), so 'Foreground only' cannot change its PCA. Use a network backbone.")
FG_TIP = ("Fit the PCA on foreground cells only and black out the background; the foreground is the "
          "positive side of the first PCA component of all images (DINOv2-style), oriented so that "
          "the image borders are background.")
METHOD_LABELS = {"nn": "nearest neighbour", "mnn": "mutual NN", "soft-argmax": "window soft-argmax",
                 "combined": "combined with sphere"}


@dataclass
class BackboneEntry:
    """One backbone in the picker: registry name, whether its weights are here, and why not."""

    name: str
    available: bool | None  # None: weights not probed yet
    detail: str = ""
    patch_size: int = 14
    default_resolution: int = 448
    depth: int = 12
    facets: tuple[str, ...] = ("prenorm",)
    weight_free: bool = False  # hand-crafted descriptors: one "layer", no facets, no mask source
    default_layer: int = -1
    default_facet: str = "prenorm"
    description: str = ""


class OptionsPanel(QWidget):
    sigOptionsEdited = pyqtSignal(object)  # FeatureSpec (checkpoint / weights: None, the controller adds them)
    sigMethodChanged = pyqtSignal(str)
    sigOpacityChanged = pyqtSignal(float)
    sigForegroundOnlyChanged = pyqtSignal(bool)
    sigDenseToggled = pyqtSignal(bool)
    sigClearPoints = pyqtSignal()
    sigCheckpointBrowse = pyqtSignal()
    sigCheckpointClear = pyqtSignal()
    sigSphereBrowse = pyqtSignal()
    sigSphereClear = pyqtSignal()
    sigAlphaChanged = pyqtSignal(float)
    sigWeightsFile = pyqtSignal()  # choose a weights file for the current backbone
    sigWeightsFolder = pyqtSignal()  # set the weights folder (the settings object)
    sigCheckpointPicked = pyqtSignal(str)  # a checkpoint from the list of trained ones (Training tab)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._entries: dict[str, BackboneEntry] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)

        feat = QGroupBox("Features")
        form = QFormLayout(feat)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.backbone = QComboBox()
        self.backbone.setModel(QStandardItemModel(self.backbone))
        self.backbone.setMinimumContentsLength(14)
        self.backbone_info = QLabel("")
        self.backbone_info.setWordWrap(True)
        self.backbone_info.setStyleSheet("color: #888;")
        self.weights_note = QLabel(NO_WEIGHTS_NOTE)
        self.weights_note.setWordWrap(True)
        self.weights_note.setStyleSheet("color: #888; font-size: 11px;")
        self.weights_button = QToolButton()
        self.weights_button.setText("Weights…")
        self.weights_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.weights_button)
        menu.addAction("Choose a weights file for this backbone…", self.sigWeightsFile.emit)
        menu.addAction("Set the weights folder…", self.sigWeightsFolder.emit)
        self.weights_button.setMenu(menu)
        self.weights_button.setToolTip("Where corrviz finds backbone weights: a file for the current backbone, "
                                       "or a folder of <backbone>.safetensors files (saved in the settings)")
        self.resolution = QSpinBox()
        self.resolution.setRange(0, 2048)
        self.resolution.setSpecialValueText("default")
        self.layer = QSpinBox()
        self.layer.setRange(-1, 64)
        self.layer.setSpecialValueText("default")
        self.facet = QComboBox()
        self.canvas = QComboBox()
        self.canvas.addItems(CANVAS_MODES)
        self.device = QComboBox()
        self.dtype = QComboBox()
        self.dtype.addItems(DTYPE_NAMES)
        self.dtype.setToolTip("Precision of the network's forward pass (autocast); bf16 / fp16 need a CUDA device")
        self.dtype.setEnabled(False)
        self.weights_info = QLabel("weights: the weights folder / hub")
        self.weights_info.setWordWrap(True)
        self.weights_info.setStyleSheet("color: #888; font-size: 11px;")
        form.addRow("Backbone", self.backbone)
        form.addRow(self.backbone_info)
        form.addRow(self.weights_button, self.weights_note)
        form.addRow(self.weights_info)
        form.addRow("Resolution", self.resolution)
        form.addRow("Layer", self.layer)
        form.addRow("Facet", self.facet)
        form.addRow("Canvas", self.canvas)
        form.addRow("Device", self.device)
        form.addRow("Precision", self.dtype)
        outer.addWidget(feat)

        ck, self.checkpoint_browse, self.checkpoint_clear, self.checkpoint_info = self._picker_group(
            "Finetuned checkpoint", "none (plain backbone)")
        self.checkpoint_trained = QComboBox()  # checkpoints of runs from the Training tab, newest first
        self.checkpoint_trained.setPlaceholderText("trained checkpoints (Training tab)…")
        self.checkpoint_trained.setToolTip("load a checkpoint of a training run, at the backbone, layer, facet "
                                           "and resolution it was trained for")
        self.checkpoint_trained.activated.connect(
            lambda i: self.sigCheckpointPicked.emit(str(self.checkpoint_trained.itemData(i) or "")))
        ck.layout().addWidget(self.checkpoint_trained)
        outer.addWidget(ck)
        sph, self.sphere_browse, self.sphere_clear, self.sphere_info = self._picker_group(
            "Sphere mapper", "none (combined matcher off; 3D sphere is a placeholder)",
            "A corrviz checkpoint whose last module is a sphere mapper; "
            "enables the combined matcher and the real sphere view in 3D")
        outer.addWidget(sph)

        match = QGroupBox("Matching")
        mform = QFormLayout(match)
        self.method = QComboBox()
        for key, label in METHOD_LABELS.items():
            self.method.addItem(label, key)
        self.alpha = QDoubleSpinBox()
        self.alpha.setRange(0.0, 1.0)
        self.alpha.setSingleStep(0.05)
        self.alpha.setDecimals(2)
        self.alpha.setValue(0.2)
        self.alpha.setToolTip("Combined matcher: (1 - alpha) * feature cosine + alpha * sphere cosine")
        self.dense = QCheckBox("Dense mutual-NN lines")
        self.clear_points = QPushButton("Clear points")
        mform.addRow("Method", self.method)
        mform.addRow("Sphere alpha", self.alpha)
        mform.addRow(self.dense)
        mform.addRow(self.clear_points)
        outer.addWidget(match)

        ov = QGroupBox("PCA overlay")
        oform = QFormLayout(ov)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.foreground_only = QCheckBox("Foreground only")
        self.foreground_only.setToolTip(FG_TIP)
        oform.addRow("Opacity", self.opacity)
        oform.addRow(self.foreground_only)
        outer.addWidget(ov)
        outer.addStretch(1)

        self.backbone.currentIndexChanged.connect(self._on_backbone)
        for w in (self.resolution, self.layer):
            w.valueChanged.connect(self._emit_options)
        for c in (self.facet, self.canvas, self.device, self.dtype):
            c.currentIndexChanged.connect(self._emit_options)
        self.method.currentIndexChanged.connect(lambda _i: self.sigMethodChanged.emit(self.method.currentData()))
        self.opacity.valueChanged.connect(lambda v: self.sigOpacityChanged.emit(v / 100.0))
        self.foreground_only.toggled.connect(self.sigForegroundOnlyChanged)
        self.dense.toggled.connect(self.sigDenseToggled)
        self.clear_points.clicked.connect(self.sigClearPoints)
        self.checkpoint_browse.clicked.connect(self.sigCheckpointBrowse)
        self.checkpoint_clear.clicked.connect(self.sigCheckpointClear)
        self.sphere_browse.clicked.connect(self.sigSphereBrowse)
        self.sphere_clear.clicked.connect(self.sigSphereClear)
        self.alpha.valueChanged.connect(self.sigAlphaChanged)
        self.set_sphere_loaded(False)

    # -- filling ------------------------------------------------------------------------------------
    def set_backbones(self, entries: list[BackboneEntry]) -> None:
        model: QStandardItemModel = self.backbone.model()  # type: ignore[assignment]
        with QSignalBlocker(self.backbone):
            model.clear()
            self._entries = {e.name: e for e in entries}
            for e in sorted(entries, key=lambda e: e.available is False):
                item = QStandardItem()
                item.setData(e.name, Qt.ItemDataRole.UserRole)
                self._label_item(item, e)
                model.appendRow(item)
        self.weights_note.setVisible(any(e.available is False for e in entries))

    @staticmethod
    def _label_item(item: QStandardItem, e: BackboneEntry) -> None:
        label = f"{e.name} (test)" if e.name.startswith("test_") else e.name
        suffix = {None: "  (checking weights…)", False: "  (no weights)"}.get(e.available, "")
        item.setText(label + suffix)
        item.setToolTip(e.detail)
        if e.available is False:
            item.setForeground(QColor(140, 140, 140))
        else:
            item.setData(None, Qt.ItemDataRole.ForegroundRole)

    def set_weights_state(self, name: str, available: bool, detail: str) -> None:
        """A weight probe came back: relabel that entry (and its info line if it is the current one)."""
        e = self._entries.get(name)
        if e is None:
            return
        e.available, e.detail = available, (f"{e.description}\n{detail}" if e.description else detail)
        model: QStandardItemModel = self.backbone.model()  # type: ignore[assignment]
        idx = self.backbone.findData(name, Qt.ItemDataRole.UserRole)
        if idx >= 0:
            self._label_item(model.item(idx), e)
        self.weights_note.setVisible(any(x.available is False for x in self._entries.values()))
        if name == self.current_backbone():
            self._show_state(e)

    def entry(self, name: str) -> BackboneEntry | None:
        return self._entries.get(name)

    def set_foreground_supported(self, supported: bool, name: str = "") -> None:
        """Weight-free backbones have no mask source: the checkbox is disabled and says why."""
        self.foreground_only.setEnabled(supported)
        self.foreground_only.setToolTip(FG_TIP if supported else NO_MASK_TIP.format(name=name or "this backbone"))

    def set_devices(self, devices: list[str]) -> None:
        with QSignalBlocker(self.device):
            self.device.clear()
            self.device.addItems(devices)

    def set_values(self, v: FeatureSpec) -> None:
        blockers = [QSignalBlocker(w) for w in (self.backbone, self.resolution, self.layer, self.facet,
                                                 self.canvas, self.device, self.dtype)]
        idx = self.backbone.findData(v.backbone, Qt.ItemDataRole.UserRole)
        if idx >= 0:
            self.backbone.setCurrentIndex(idx)
        self._configure_for(v.backbone)
        self.resolution.setValue(v.resolution or 0)
        self.layer.setValue(-1 if v.layer is None else v.layer)
        self.facet.setCurrentIndex(max(0, self.facet.findText(v.facet or "default")))
        self.canvas.setCurrentIndex(max(0, self.canvas.findText(v.canvas)))
        self.device.setCurrentIndex(max(0, self.device.findText(v.device)))
        self.dtype.setCurrentIndex(max(0, self.dtype.findText(v.dtype)))
        self.dtype.setEnabled(str(v.device).startswith("cuda"))
        self.weights_info.setText(f"weights: {v.weights}" if v.weights else "weights: the weights folder / hub")
        del blockers

    def set_method(self, method: str) -> None:
        with QSignalBlocker(self.method):
            self.method.setCurrentIndex(max(0, self.method.findData(method)))

    def set_overlay(self, opacity: float, foreground_only: bool) -> None:
        with QSignalBlocker(self.opacity), QSignalBlocker(self.foreground_only):
            self.opacity.setValue(round(opacity * 100))
            self.foreground_only.setChecked(foreground_only)

    def set_dense(self, on: bool) -> None:
        with QSignalBlocker(self.dense):
            self.dense.setChecked(on)

    def set_trained_checkpoints(self, items: list[tuple[str, str]]) -> None:
        """(label, path) of trained checkpoints, newest first; picking one emits ``sigCheckpointPicked``."""
        with QSignalBlocker(self.checkpoint_trained):
            self.checkpoint_trained.clear()
            for label, path in items:
                self.checkpoint_trained.addItem(label, path)
                self.checkpoint_trained.setItemData(self.checkpoint_trained.count() - 1, path,
                                                    Qt.ItemDataRole.ToolTipRole)
            self.checkpoint_trained.setCurrentIndex(-1)

    def trained_checkpoints(self) -> list[str]:
        return [str(self.checkpoint_trained.itemData(i)) for i in range(self.checkpoint_trained.count())]

    def set_checkpoint_info(self, text: str, ok: bool = True) -> None:
        self.checkpoint_info.setText(text)
        self.checkpoint_info.setStyleSheet("" if ok else "color: #d04040;")

    def set_sphere_info(self, text: str, ok: bool = True) -> None:
        self.sphere_info.setText(text)
        self.sphere_info.setStyleSheet("" if ok else "color: #d04040;")

    def set_sphere_loaded(self, loaded: bool) -> None:
        """Enable the combined matcher and its alpha only while a sphere mapper is loaded."""
        model: QStandardItemModel = self.method.model()  # type: ignore[assignment]
        item = model.item(self.method.findData("combined"))
        if item is not None:
            item.setEnabled(loaded)
            item.setToolTip("" if loaded else "needs a sphere-mapper checkpoint (Sphere mapper > Choose…)")
        self.alpha.setEnabled(loaded)

    def set_alpha(self, alpha: float) -> None:
        with QSignalBlocker(self.alpha):
            self.alpha.setValue(alpha)

    # -- reading ------------------------------------------------------------------------------------
    def current_backbone(self) -> str:
        return str(self.backbone.currentData(Qt.ItemDataRole.UserRole) or "")

    @staticmethod
    def _picker_group(title: str, empty_text: str, tooltip: str = "") -> tuple[QGroupBox, QPushButton,
                                                                                 QPushButton, QLabel]:
        """A group with Choose… / Clear buttons and a wrapped info label (a checkpoint picker)."""
        group = QGroupBox(title)
        lay = QVBoxLayout(group)
        row = QHBoxLayout()
        browse, clear = QPushButton("Choose…"), QPushButton("Clear")
        if tooltip:
            browse.setToolTip(tooltip)
        row.addWidget(browse)
        row.addWidget(clear)
        info = QLabel(empty_text)
        info.setWordWrap(True)
        lay.addLayout(row)
        lay.addWidget(info)
        return group, browse, clear, info

    def values(self) -> FeatureSpec:
        """What the feature widgets show (``None`` = backbone default); half precision only on CUDA."""
        facet = self.facet.currentText()
        device = self.device.currentText() or "cpu"
        self.dtype.setEnabled(device.startswith("cuda"))
        dtype = (self.dtype.currentText() or "fp32") if device.startswith("cuda") else "fp32"
        return FeatureSpec(self.current_backbone(), self.resolution.value() or None, canvas=self.canvas.currentText(),
                           layer=None if self.layer.value() < 0 else self.layer.value(),
                           facet=None if facet in ("", "default") else facet, device=device, dtype=dtype)

    def _configure_for(self, name: str) -> None:
        e = self._entries.get(name)
        if e is None:
            return
        self.resolution.setSingleStep(e.patch_size)
        self.layer.setRange(-1, max(0, e.depth - 1))
        self.facet.clear()
        self.facet.addItems(["default", *e.facets])
        for w in (self.layer, self.facet):
            w.setEnabled(not e.weight_free)
            w.setToolTip(f"{name} computes one descriptor per cell: there is no layer or facet to choose"
                         if e.weight_free else "")
        self._show_state(e)

    def _show_state(self, e: BackboneEntry) -> None:
        if e.available is None:
            state = "checking for weights…"
        elif not e.available:
            state = "weights NOT found (hover for where corrviz looked; Weights… to choose)"
        elif e.detail.splitlines()[-1:] in (["weight-free"], ["random init (test model)"]):
            state = e.detail.splitlines()[-1]
        else:
            state = "weights found"
        self.backbone_info.setText(f"patch {e.patch_size}, default {e.default_resolution} px; {state}")
        self.backbone_info.setToolTip(e.detail)

    def _on_backbone(self, _index: int) -> None:
        blockers = [QSignalBlocker(w) for w in (self.resolution, self.layer, self.facet)]
        self._configure_for(self.current_backbone())
        self.resolution.setValue(0)
        self.layer.setValue(-1)
        del blockers
        self._emit_options()

    def _emit_options(self, *_args) -> None:
        if self.current_backbone():  # (an empty picker, before the backbone list arrives, has nothing to say)
            self.sigOptionsEdited.emit(self.values())
