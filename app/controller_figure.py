"""The figure controller: the 2-D view's layers, and exporting figures and matches.

It exports what a window shows, so its view is the window (``tabs``, ``pair_view``, ``video_view``,
``view3d``, ``layers``); dialogs come through the context.

The layer list drives the pair view's layers (the PCA layer's opacity is the session's overlay
opacity, so the options panel, session files and the layer list agree). Export dialogs start in
the last export folder, kept in the app's settings object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt6.QtWidgets import QDialog

from . import export as figure_export
from .context import AppContext
from .main_window import TAB_3D, TAB_VIDEO
from .widgets.export_dialog import FigureExportDialog
from .widgets.pair_view import HEATMAP_SCALES


class FigureController:
    """Layers and export."""

    def __init__(self, ctx: AppContext, window: Any) -> None:
        self.ctx, self.session, self.settings, self.window = ctx, ctx.session, ctx.settings, window
        w, s = self.window, self.session
        view, layers = w.pair_view, w.layers
        for name, style in view.layers.items():  # the last run's layer styles (PCA opacity: the session's)
            saved = self.settings.layers.get(name, {})
            visible = bool(saved.get("visible", style.visible))
            opacity = float(saved.get("opacity", style.opacity) or 0.0)
            view.set_layer(name, visible, s.overlay_opacity if name == "pca" else opacity)
            layers.set_layer(name, view.layers[name].visible, view.layers[name].opacity)
        scale = self.settings.heatmap_scale or view.heatmap_scale
        view.set_heatmap_scale(scale if scale in HEATMAP_SCALES else view.heatmap_scale)
        layers.set_heatmap_scale(view.heatmap_scale)
        layers.sigLayerChanged.connect(self._on_layer_edited)
        layers.sigHeatmapScaleChanged.connect(self._on_heatmap_scale)
        s.sigOverlayChanged.connect(lambda: layers.set_layer("pca", opacity=s.overlay_opacity))

    def _on_layer_edited(self, name: str, visible: bool, opacity: float) -> None:
        self.window.pair_view.set_layer(name, visible, opacity)
        self.settings.update(layers={**self.settings.layers, name: {"visible": bool(visible), "opacity": float(opacity)}})
        if name == "pca" and abs(opacity - self.session.overlay_opacity) > 1e-6:
            self.session.set_overlay(opacity=opacity)

    def _on_heatmap_scale(self, scale: str) -> None:
        self.window.pair_view.set_heatmap_scale(scale)
        self.settings.update(heatmap_scale=scale)

    # -- figures ------------------------------------------------------------------------------------
    def figure_widget(self):
        tab = self.window.tabs.currentIndex()
        if tab == TAB_3D and self.window.view3d is not None:
            return self.window.view3d.canvas.native, self.window.view3d.snapshot()
        if tab == TAB_VIDEO:
            return self.window.video_view.graphics, None
        return self.window.pair_view, None

    def export_figure(self, path: str | Path, dpi: float = 150.0, background: str = "white",
                      layers: dict[str, bool] | None = None) -> Path:
        widget, snapshot = self.figure_widget()
        out = figure_export.export_figure(widget, path, dpi, snapshot, background, layers)
        self.ctx.show_status(f"Figure written to {out}")
        return out

    def export_matches(self, path: str | Path) -> Path:
        out = figure_export.export_matches(figure_export.matches_table(self.session), path,
                                           figure_export.provenance(self.session))
        self.ctx.show_status(f"Matches written to {out}")
        return out

    def export_folder(self) -> str:
        """Where export dialogs start: the last export folder, else the last opened folder, else home."""
        last = self.settings.last_export_folder or self.settings.last_folder
        return str(last) if last and Path(str(last)).is_dir() else str(Path.home())

    def _export_and_remember(self, write) -> None:
        """Run an export; on success its folder becomes the next dialogs' start, on failure say why."""
        try:
            out = write()
        except (ValueError, OSError) as exc:
            self.ctx.show_error("Export failed", str(exc))
            return
        self.settings.update(last_export_folder=str(Path(out).resolve().parent))

    def ask_export_figure(self) -> None:
        p = self.ctx.dialogs.save_file("Export figure", str(Path(self.export_folder()) / "corrviz_figure.png"),
                                       "PNG (*.png);;SVG (*.svg);;PDF (*.pdf)")
        if not p:
            return
        widget, _ = self.figure_widget()
        layers = ({n: st.visible for n, st in widget.layers.items()} if widget is self.window.pair_view
                  else None)
        dialog = FigureExportDialog(self.window, int(self.settings.export_dpi or 150),
                                    self.settings.export_background or "white",
                                    layers, raster=Path(p).suffix.lower() == ".png")
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        dpi, background, chosen = dialog.values()
        self.settings.update(export_dpi=int(dpi), export_background=str(background))
        self._export_and_remember(lambda: self.export_figure(p, dpi, background, chosen or None))

    def ask_export_matches(self) -> None:
        p = self.ctx.dialogs.save_file("Export matches", str(Path(self.export_folder()) / "matches.csv"),
                                       "CSV (*.csv);;JSON (*.json)")
        if not p:
            return
        self._export_and_remember(lambda: self.export_matches(p))
