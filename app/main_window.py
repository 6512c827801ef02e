"""The main window: menus, tabs (2-D, 3-D, video), the options dock and the status bar.

It owns the widgets and forwards what the user asks for as ``sig*`` signals; the controller does
the rest. Errors are shown in a non-modal message box plus the status bar, never as a traceback.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QAction, QDragEnterEvent, QDropEvent, QKeySequence
from PyQt6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QWidget,
)

from .compare_view import CompareView
from .pose_view import PoseView
from .training_panel import TrainingPanel
from .widgets import scroll_contents
from .widgets.eval_panel import EvalPanel
from .widgets.layers import LayerList
from .widgets.options_panel import OptionsPanel
from .widgets.pair_view import PairView
from .widgets.video_view import VideoView

TAB_2D, TAB_3D, TAB_VIDEO, TAB_EVAL, TAB_POSE, TAB_TRAIN, TAB_COMPARE = 0, 1, 2, 3, 4, 5, 6


class MainWindow(QMainWindow):
    sigOpenFiles = pyqtSignal(list)  # paths (images, a folder, a video, a mesh, a session)
    sigOpenDialog = pyqtSignal(str)  # "images" | "folder" | "video" | "mesh" | "session"
    sigOpenDemo = pyqtSignal()
    sigLabelPair = pyqtSignal(int)  # +1 / -1: next / previous pair of an open pseudo-label store
    sigSaveSession = pyqtSignal()
    sigExportFigure = pyqtSignal()
    sigExportMatches = pyqtSignal()
    sigCancel = pyqtSignal()
    sigClosing = pyqtSignal()
    sigUndo = pyqtSignal()  # query-point edits: undo / redo / delete the selected point / deselect
    sigRedo = pyqtSignal()
    sigDeletePoint = pyqtSignal()
    sigDeselect = pyqtSignal()
    sigHoverToggled = pyqtSignal(bool)  # hover-to-match on / off

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("corrviz")
        self.setObjectName("corrvizMainWindow")
        self.setAcceptDrops(True)
        self.resize(1400, 860)
        self.tabs = QTabWidget()
        self.pair_view = PairView()
        self.tabs.addTab(self.pair_view, "2D matches")
        self.view3d_holder = QWidget()  # the VisPy view is created lazily by the controller
        self.view3d = None
        self.tabs.addTab(self.view3d_holder, "3D")
        self.video_view = VideoView()
        self.tabs.addTab(self.video_view, "Video")
        self.eval_panel = EvalPanel()
        self.tabs.addTab(self.eval_panel, "Evaluation")
        self.pose_view = PoseView()  # Pose mode of the mesh view (app/controller_pose.py)
        self.tabs.addTab(self.pose_view, "Pose")
        self.training_panel = TrainingPanel()  # finetuning runs (corrviz-train in a child process)
        self.tabs.addTab(self.training_panel, "Training")
        self.compare_view = CompareView()  # two backbones / checkpoints side by side; before / after
        self.tabs.addTab(self.compare_view, "Compare")
        for page in (self.pose_view, self.training_panel, self.compare_view):
            scroll_contents(page)  # their rows of controls must not widen the window past a laptop screen
        self.setCentralWidget(self.tabs)

        self.options = OptionsPanel()
        scroll = QScrollArea()
        scroll.setWidget(self.options)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(300)
        self.dock = QDockWidget("Backbone and options", self)
        self.dock.setObjectName("optionsDock")
        self.dock.setWidget(scroll)
        self.dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                              | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)
        self.layers = LayerList()  # visibility / opacity of what the 2-D view draws
        self.layers_dock = QDockWidget("Layers (2D view)", self)
        self.layers_dock.setObjectName("layersDock")
        self.layers_dock.setWidget(self.layers)
        self.layers_dock.setFeatures(self.dock.features())
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.layers_dock)

        sb = self.statusBar()
        self.status_label = QLabel("Ready")
        self.timing_label = QLabel("")
        self.timing_label.setStyleSheet("color: #2a7ab0;")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.sigCancel)
        sb.addWidget(self.status_label, 1)
        sb.addPermanentWidget(self.timing_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        self.error_box: QMessageBox | None = None
        self.errors_shown = 0
        self.recent_menu = None
        self._build_menus()

    def _action(self, menu, text: str, slot, shortcut: QKeySequence | str | None = None) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.triggered.connect(slot)
        menu.addAction(act)
        return act

    def _build_menus(self) -> None:
        fm = self.menuBar().addMenu("&File")
        self._action(fm, "Open images…", lambda: self.sigOpenDialog.emit("images"), QKeySequence.StandardKey.Open)
        self._action(fm, "Open folder…", lambda: self.sigOpenDialog.emit("folder"), "Ctrl+Shift+O")
        self._action(fm, "Open video…", lambda: self.sigOpenDialog.emit("video"), "Ctrl+Shift+V")
        self._action(fm, "Open mesh…", lambda: self.sigOpenDialog.emit("mesh"), "Ctrl+Shift+M")
        self._action(fm, "Open demo pair", self.sigOpenDemo.emit, "Ctrl+D")
        self.recent_menu = fm.addMenu("Open recent")
        fm.addSeparator()
        self._action(fm, "Open session…", lambda: self.sigOpenDialog.emit("session"), "Ctrl+Shift+L")
        self._action(fm, "Save session…", self.sigSaveSession.emit, QKeySequence.StandardKey.Save)
        fm.addSeparator()
        self._action(fm, "Export figure…", self.sigExportFigure.emit, "Ctrl+E")
        self._action(fm, "Export matches…", self.sigExportMatches.emit, "Ctrl+Shift+E")
        fm.addSeparator()
        self._action(fm, "Quit", self.close, QKeySequence.StandardKey.Quit)
        em = self.menuBar().addMenu("&Edit")
        self.undo_action = self._action(em, "Undo point edit", self.sigUndo.emit, QKeySequence.StandardKey.Undo)
        self.redo_action = self._action(em, "Redo point edit", self.sigRedo.emit, QKeySequence.StandardKey.Redo)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        delete = self._action(em, "Delete selected point", self.sigDeletePoint.emit, QKeySequence.StandardKey.Delete)
        delete.setShortcuts([QKeySequence(QKeySequence.StandardKey.Delete), QKeySequence("Backspace")])
        self._action(em, "Deselect point", self.sigDeselect.emit, "Esc")
        vm = self.menuBar().addMenu("&View")
        for k, name in enumerate(("2D matches", "3D", "Video", "Evaluation", "Pose", "Training", "Compare")):
            self._action(vm, name, lambda _c=False, k=k: self.tabs.setCurrentIndex(k), f"Ctrl+{k + 1}")
        self.hover_action = self._action(vm, "Hover to match (live similarity under the cursor)",
                                         lambda on: self.sigHoverToggled.emit(bool(on)), "Ctrl+H")
        self.hover_action.setCheckable(True)
        self._action(vm, "Next pseudo-label pair", lambda: self.sigLabelPair.emit(1), "Ctrl+]")
        self._action(vm, "Previous pseudo-label pair", lambda: self.sigLabelPair.emit(-1), "Ctrl+[")
        vm.addAction(self.dock.toggleViewAction())
        vm.addAction(self.layers_dock.toggleViewAction())
        hm = self.menuBar().addMenu("&Help")
        self._action(hm, "How to use", self._show_help, QKeySequence.StandardKey.HelpContents)

    def set_recent(self, paths: list[str]) -> None:
        self.recent_menu.clear()
        for p in paths:
            act = QAction(p, self)
            act.triggered.connect(lambda _c=False, p=p: self.sigOpenFiles.emit(p.split("\n")))
            self.recent_menu.addAction(act)
        self.recent_menu.setEnabled(bool(paths))

    def set_view3d(self, view: QWidget) -> None:
        index = self.tabs.indexOf(self.view3d_holder)
        was_current = self.tabs.currentIndex() == index
        self.tabs.blockSignals(True)
        self.tabs.removeTab(index)
        self.tabs.insertTab(index, view, "3D")
        if was_current:
            self.tabs.setCurrentIndex(index)
        self.tabs.blockSignals(False)
        self.view3d_holder.deleteLater()
        self.view3d_holder = view
        self.view3d = view

    # -- status -------------------------------------------------------------------------------------
    def show_status(self, text: str) -> None:
        self.status_label.setText(text)

    def show_timings(self, text: str) -> None:
        self.timing_label.setText(text)

    def show_progress(self, done: int, total: int, message: str) -> None:
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.progress.setRange(0, max(total, 0))
        self.progress.setValue(min(done, total) if total else 0)
        self.progress.setFormat(f"%v / %m {message}" if total else message)
        if message:
            self.status_label.setText(message + "…")

    def hide_progress(self) -> None:
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        if self.status_label.text().endswith("…"):
            self.status_label.setText("Ready")

    def show_error(self, title: str, message: str) -> None:
        """A non-modal message box (the app stays usable) and a red status line."""
        self.errors_shown += 1
        self.status_label.setText(f"⚠ {title}: {message.splitlines()[0] if message else ''}")
        if self.error_box is not None:
            self.error_box.close()
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setObjectName("corrvizError")
        box.open()
        self.error_box = box

    def _show_help(self) -> None:
        QMessageBox.information(
            self, "corrviz",
            "Open two or more images (Ctrl+O, or drop files), pick a backbone on the left and wait for the "
            "features. Click a point in any image to see its matches in the others; click more points for "
            "more colours; clicking an existing point selects it (Delete removes it, Esc deselects, Ctrl+Z / "
            "Ctrl+Shift+Z undo and redo point edits). The 3D tab shows the features as PCA point clouds; the Video tab tracks a clicked "
            "point through a video; the Evaluation tab runs a benchmark with the current features and lists the evaluated "
            "pairs worst first (double-click one to see it with its ground truth and predictions). View > Hover to "
            "match (Ctrl+H) matches the point under the cursor live. Export the figure with Ctrl+E and the matches "
            "with Ctrl+Shift+E.")

    # -- drag and drop ------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.sigOpenFiles.emit([str(Path(p)) for p in paths])

    def closeEvent(self, event) -> None:  # noqa: N802
        self.sigClosing.emit()
        super().closeEvent(event)
