"""The checkpoint controller: backbone weights, finetuned checkpoints and the sphere mapper, over the session.

Its view is the checkpoint part of the side panel (:class:`CheckpointPanelLike`, or a mock).

Backbone weights: a weights file chosen for the current backbone, or the weights folder, both
kept in the user's :class:`~corrviz.core.settings.Settings`; the picker is re-probed afterwards.

Two checkpoint pickers: the finetuned-feature checkpoint (wraps the backbone) and the sphere mapper (a
checkpoint whose last module maps features to unit 3-vectors; it enables the ``combined`` matcher
and the real sphere view in 3-D). A checkpoint that does not fit is explained in the panel and a
dialog, never silently dropped. Sphere maps are extracted in a worker, like features, and kept
in the session (and the extractor's cache), so switching views never recomputes them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from corrviz.core.errors import CorrvizError
from corrviz.core.session_3d import check_sphere_checkpoint, extract_sphere

from .context import AppContext, start_folder

WEIGHT_FILE_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")

NO_SPHERE = "none (combined matcher off; 3D sphere is a placeholder)"


class CheckpointPanelLike(Protocol):
    """The weights and checkpoint part of the side panel (:class:`corrviz.app.widgets.options_panel.OptionsPanel`)."""

    sigCheckpointBrowse: Any
    sigCheckpointClear: Any
    sigSphereBrowse: Any
    sigSphereClear: Any
    sigAlphaChanged: Any
    sigWeightsFile: Any
    sigWeightsFolder: Any
    sigCheckpointPicked: Any

    def set_trained_checkpoints(self, items: list[tuple[str, str]]) -> None: ...
    def set_alpha(self, alpha: float) -> None: ...
    def set_weights_state(self, backbone: str, ok: bool, detail: str) -> None: ...
    def set_checkpoint_info(self, text: str, ok: bool = True) -> None: ...
    def set_sphere_info(self, text: str, ok: bool = True) -> None: ...
    def set_sphere_loaded(self, loaded: bool) -> None: ...
    def set_method(self, method: str) -> None: ...


class CheckpointController:
    """Checkpoint pickers. ``probe_weights()`` looks for every network's weights again (the main controller's)."""

    def __init__(self, ctx: AppContext, panel: CheckpointPanelLike,
                 probe_weights: Callable[[], None] = lambda: None) -> None:
        self.ctx, self.session, self.runner, self.settings = ctx, ctx.session, ctx.runner, ctx.settings
        self.panel, self.probe_weights = panel, probe_weights
        p, s = panel, self.session
        self._sphere_key: tuple | None = None
        p.sigCheckpointBrowse.connect(self.ask_checkpoint)
        p.sigCheckpointClear.connect(lambda: self.set_checkpoint(None))
        p.sigSphereBrowse.connect(self.ask_sphere_checkpoint)
        p.sigSphereClear.connect(lambda: self.set_sphere_checkpoint(None))
        p.sigAlphaChanged.connect(s.set_sphere_alpha)
        p.sigWeightsFile.connect(self.ask_weights_file)
        p.sigWeightsFolder.connect(self.ask_weights_folder)
        p.sigCheckpointPicked.connect(self.load_trained_checkpoint)
        p.set_trained_checkpoints(self._trained_items())
        s.sigSphereChanged.connect(self._on_sphere)
        p.set_alpha(s.sphere_alpha)

    def ask_file(self, title: str) -> str:
        return self.ctx.dialogs.open_file(title, start_folder(self.settings),
                                          "corrviz checkpoints (*.safetensors);;All files (*)")

    # -- backbone weights ---------------------------------------------------------------------------
    def weights_file_for(self, backbone: str) -> str | None:
        """The weights file the user chose for ``backbone`` in the app, if it still exists."""
        chosen = self.settings.weights_files.get(backbone)
        return chosen if chosen and Path(chosen).is_file() else None

    def ask_weights_file(self) -> None:
        name = self.session.options.backbone
        p = self.ctx.dialogs.open_file(f"Weights file for {name}", start_folder(self.settings),
                                       "Weights (" + " ".join(f"*{x}" for x in WEIGHT_FILE_SUFFIXES) + ")")
        if p:
            self.set_weights_file(name, p)

    def set_weights_file(self, backbone: str, path: str) -> bool:
        """Use ``path`` as the weights of ``backbone`` (remembered in the settings); checked when loaded."""
        p = Path(path)
        problem = ("does not exist" if not p.is_file() else "is not a weights file (expected "
                   + ", ".join(WEIGHT_FILE_SUFFIXES) + ")" if p.suffix.lower() not in WEIGHT_FILE_SUFFIXES else "")
        if problem:
            self.ctx.show_error("Weights file not usable", f"{p}: {problem}")
            return False
        self.settings.update(weights_files={**self.settings.weights_files, backbone: str(p)})
        self.panel.set_weights_state(backbone, True, f"chosen file:{p}")
        if self.session.options.backbone == backbone:
            self.session.set_options(replace(self.session.options, weights=str(p)))
        self.ctx.show_status(f"{backbone}: weights from {p}")
        return True

    def ask_weights_folder(self) -> None:
        start = self.settings.weights_dir or start_folder(self.settings)
        d = self.ctx.dialogs.folder("Folder of <backbone>.safetensors weights", start)
        if d:
            self.set_weights_folder(d)

    def set_weights_folder(self, folder: str) -> bool:
        """Save the weights folder in the settings and look for every network's weights again."""
        if not Path(folder).is_dir():
            self.ctx.show_error("Not a folder", f"{folder}: the weights folder does not exist")
            return False
        self.settings.update(weights_dir=str(folder))
        env = os.environ.get("CORRVIZ_WEIGHTS")
        note = f" (CORRVIZ_WEIGHTS={env} is set and takes precedence while it is)" if env else ""
        self.ctx.show_status(f"Weights folder set to {folder}{note}; looking for weights again…")
        self.probe_weights()
        return True

    # -- finetuned feature checkpoint ---------------------------------------------------------------
    def ask_checkpoint(self) -> None:
        p = self.ask_file("Choose a corrviz checkpoint")
        if p:
            self.set_checkpoint(p)

    def set_checkpoint(self, path: str | None) -> bool:
        """Use a finetuned checkpoint; incompatible ones are explained (panel + dialog), not applied."""
        o = self.session.options
        panel = self.panel
        if path is None:
            self.session.set_options(replace(o, checkpoint=None))
            panel.set_checkpoint_info("none (plain backbone)")
            return True
        from corrviz.core.checkpoint import read_checkpoint_metadata

        try:
            meta = read_checkpoint_metadata(path)
        except CorrvizError as exc:
            panel.set_checkpoint_info(f"{Path(path).name}: unusable", ok=False)
            self.ctx.report_error(exc, "Checkpoint not usable")
            return False
        modules = [str(m.get("type")) for m in meta.get("modules", [])]
        if modules and modules[-1] == "sphere_mapper":
            msg = (f"{Path(path).name} is a sphere mapper (it turns features into 3-D points on a sphere), "
                   "not finetuned features. Load it under 'Sphere mapper' to use the combined matcher.")
            panel.set_checkpoint_info(msg, ok=False)
            self.ctx.show_error("Sphere mapper, not a feature checkpoint", msg)
            return False
        if meta.get("backbone") != o.backbone:
            msg = (f"{Path(path).name} was trained on backbone '{meta.get('backbone')}' "
                   f"(method {meta.get('method', '?')}), but the current backbone is '{o.backbone}'. "
                   f"Pick '{meta.get('backbone')}' in the backbone list first.")
            panel.set_checkpoint_info(msg, ok=False)
            self.ctx.show_error("Checkpoint for another backbone", msg)
            return False
        self.session.set_options(replace(o, checkpoint=str(path)))
        if meta.get("kind") == "grid_matcher":
            panel.set_checkpoint_info(f"{Path(path).name} (grid matcher, {meta.get('method', '?')}): matches are read "
                                      "from its dense flow; the heatmap is its confidence on the target")
        else:
            panel.set_checkpoint_info(f"{Path(path).name} ({meta.get('method', '?')})")
        return True

    # -- checkpoints of training runs (the Training tab) ---------------------------------------------
    def _trained_items(self) -> list[tuple[str, str]]:
        value = self.settings.value("trained_checkpoints", [])
        rows = [str(v) for v in (value if isinstance(value, list) else [value]) if v]
        items = [tuple(r.split("\t", 1)) for r in rows if "\t" in r]
        return [(label, path) for label, path in items if Path(path).is_file()]

    def add_trained_checkpoint(self, path: str, label: str) -> None:
        """A training run's checkpoint appears first in the picker's list of trained checkpoints."""
        items = [(label, str(path))] + [it for it in self._trained_items() if it[1] != str(path)]
        self.settings.set_value("trained_checkpoints", [f"{lb}\t{pt}" for lb, pt in items[:20]])
        self.panel.set_trained_checkpoints(items[:20])

    def load_trained_checkpoint(self, path: str) -> bool:
        """Use a trained checkpoint at the backbone, layer, facet and resolution it was trained for."""
        from corrviz.core.checkpoint import read_checkpoint_metadata

        if not path:
            return False
        try:
            meta = read_checkpoint_metadata(path)
        except CorrvizError as exc:
            self.ctx.report_error(exc, "Checkpoint not usable")
            return False
        modules = [str(m.get("type")) for m in meta.get("modules", [])]
        if modules and modules[-1] == "sphere_mapper":
            return self.set_checkpoint(path)  # explains that it belongs under 'Sphere mapper'
        feature, o = meta.get("feature") or {}, self.session.options
        if meta.get("backbone") != o.backbone:
            self.drop_sphere_for_backbone(str(meta.get("backbone")))
        self.session.set_options(replace(  # one change: one extraction
            o, backbone=str(meta.get("backbone", o.backbone)), layer=feature.get("layer", o.layer),
            facet=feature.get("facet", o.facet), resolution=feature.get("resolution", o.resolution), checkpoint=path))
        self.panel.set_checkpoint_info(f"{Path(path).parent.name}/{Path(path).name} "
                                                f"({meta.get('method', '?')})")
        return True

    # -- sphere mapper ------------------------------------------------------------------------------
    def ask_sphere_checkpoint(self) -> None:
        p = self.ask_file("Choose a sphere-mapper checkpoint")
        if p:
            self.set_sphere_checkpoint(p)

    def set_sphere_checkpoint(self, path: str | None) -> bool:
        """Load a sphere mapper for the current backbone; a mismatched one is explained, not applied."""
        panel = self.panel
        if path is None:
            self.session.set_sphere_checkpoint(None)
            panel.set_sphere_info(NO_SPHERE)
            return True
        try:
            meta = check_sphere_checkpoint(path, self.session.options.backbone)
        except CorrvizError as exc:
            panel.set_sphere_info(f"{Path(path).name}: not used. {exc}", ok=False)
            self.ctx.show_error("Sphere mapper not usable", str(exc))
            return False
        self.session.set_sphere_checkpoint(str(path))
        panel.set_sphere_info(f"{Path(path).name} (method {meta.get('method', '?')}, for {meta.get('backbone')}); "
                              "combined matcher available")
        self.ctx.show_status(f"Sphere mapper {Path(path).name} loaded; extracting sphere maps…")
        return True

    def drop_sphere_for_backbone(self, backbone: str) -> None:
        """The backbone is changing: a sphere mapper made for another one is unloaded, with a note."""
        ck = self.session.sphere_checkpoint
        if ck is not None and backbone != self.session.options.backbone:
            self.session.set_sphere_checkpoint(None)
            self.panel.set_sphere_info(
                f"{Path(ck).name} unloaded: it maps '{self.session.options.backbone}' features, the backbone is "
                f"now '{backbone}'.", ok=False)

    def _on_sphere(self) -> None:
        s = self.session
        loaded = s.sphere_checkpoint is not None
        self.panel.set_sphere_loaded(loaded)
        self.panel.set_alpha(s.sphere_alpha)
        self.panel.set_method(s.method)
        if not loaded:
            self._sphere_key = None
            self.runner.cancel("sphere")
        elif s.sphere_maps is None:
            self.start_sphere_extraction()

    def start_sphere_extraction(self) -> None:
        s = self.session
        if s.sphere_checkpoint is None or not s.images:
            return
        key = (s.sphere_checkpoint, s.options, tuple(id(im) for im in s.images))
        if key == self._sphere_key and self.runner.busy("sphere"):
            return  # this very extraction is already running
        self._sphere_key = key
        images, options, ck = list(s.images), s.options, s.sphere_checkpoint

        def done(maps, sec: float) -> None:
            if s.sphere_checkpoint == ck and s.options == options:
                s.set_sphere_maps(maps)
                s.record_timing("sphere", sec)
                self.ctx.show_status(f"Sphere maps ready ({Path(ck).name}).")

        def failed(exc: Exception) -> None:
            self._sphere_key = None
            self.ctx.report_error(exc, "Sphere extraction failed")

        self.runner.submit("sphere", lambda p: extract_sphere(images, options, ck, p), on_result=done,
                           on_error=failed, on_cancelled=lambda: self.ctx.show_status("Sphere extraction cancelled"))
