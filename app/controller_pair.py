"""The pair controller: features, matches and query points of the 2-D view, over the session.

Its view is the pair view (:class:`PairViewLike`) and the feature part of the side panel
(:class:`FeaturePanelLike`); both can be mocks (tests/app/test_controllers_headless.py).

Three rules keep what is on screen honest and cheap:

* every result job (matches, dense lines, PCA) remembers the features it was computed from and is
  dropped if the session's features changed meanwhile; a failed extraction clears the results
  and says why in the view, so nothing of the previous backbone stays on screen;
* an option change recomputes only what depends on it: options that cannot change the features
  (the layer or facet of a weight-free backbone, a spelled-out default) keep them, and feature
  results of this image set are cached per option set, so switching back is instant;
* query points are edited through the session's undoable operations (add, select, delete,
  clear, undo, redo); a click near an existing point selects it instead of adding a duplicate.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from corrviz.core.errors import CorrvizError
from corrviz.core.session import (
    ExtractionOptions,
    FeatureResult,
    MatchRequest,
    QueryPoint,
    compute_dense,
    compute_grid_dense,
    compute_matches,
    extract_features,
    pca_result,
)

from .context import AppContext
from .render_state import DrawLine, DrawPoint, dense_lines, match_drawing, overlay_images, with_overlays

FEATURE_CACHE_ENTRIES = 8  # feature results (all images of one set) kept per option set
PICK_RADIUS_PX = 10.0  # a click this close (on screen) to a query point selects it
HOVER_RGB = (255, 235, 80)


class PairViewLike(Protocol):
    """What the pair controller needs of the 2-D view (:class:`corrviz.app.widgets.pair_view.PairView`)."""

    sigPointClicked: Any  # (image, x, y) in image pixels
    sigHovered: Any  # (image, x, y) under the cursor, while hover-to-match is on
    sigHoverLeft: Any

    def set_images(self, images: list, names: list[str]) -> None: ...
    def set_hint(self, text: str) -> None: ...
    def set_overlays(self, overlays: list | None) -> None: ...
    def set_overlay_opacity(self, opacity: float) -> None: ...
    def view_to_widget(self, image: int, x: float, y: float) -> Any: ...  # has .x(), .y()
    def set_points(self, points: list[DrawPoint]) -> None: ...
    def set_targets(self, points: list[DrawPoint]) -> None: ...
    def set_lines(self, lines: list[DrawLine]) -> None: ...
    def set_heatmap_kind(self, kind: str) -> None: ...
    def set_heatmaps(self, heatmaps: dict) -> None: ...
    def set_dense(self, lines: list[DrawLine]) -> None: ...
    def set_hover_enabled(self, on: bool) -> None: ...
    def set_hover(self, points: list[DrawPoint]) -> None: ...


class FeaturePanelLike(Protocol):
    """The feature and matcher part of the side panel (:class:`corrviz.app.widgets.options_panel.OptionsPanel`)."""

    sigOptionsEdited: Any
    sigMethodChanged: Any
    sigOpacityChanged: Any
    sigForegroundOnlyChanged: Any
    sigDenseToggled: Any
    sigClearPoints: Any

    def set_overlay(self, opacity: float, foreground_only: bool) -> None: ...
    def set_method(self, method: str) -> None: ...
    def set_dense(self, on: bool) -> None: ...


class PairController:
    """Extraction, feature cache, matching and point editing.

    ``backbone_changing(name)`` is called before the backbone changes (the checkpoint controller unloads a
    sphere mapper of the old one); ``weights_file_for(name)`` gives the weights file chosen for a backbone.
    """

    def __init__(self, ctx: AppContext, view: PairViewLike, panel: FeaturePanelLike,
                 weights_file_for: Callable[[str], str | None] = lambda _n: None,
                 backbone_changing: Callable[[str], None] = lambda _n: None) -> None:
        self.ctx, self.session, self.runner = ctx, ctx.session, ctx.runner
        self.view, self.panel = view, panel
        self.weights_file_for, self.backbone_changing = weights_file_for, backbone_changing
        s, p = self.session, panel
        self._feature_cache: OrderedDict[tuple, FeatureResult] = OrderedDict()
        self._click_t: float | None = None
        self._no_features: str | None = None  # why the current options have no features, if they failed
        self._match_pending: tuple | None = None  # the request key of the match job running now
        self._match_shown: tuple | None = None  # (request key, MatchResult) of the matches in the session
        self._drawn: tuple | None = None  # what the pair view's points / matches show now
        self._checkpoint_kinds: dict[str, Any] = {}  # checkpoint path -> its header's kind
        self.hover_on = False
        self._hover_shown = False  # the view shows a hover result (not the session's matches)
        p.sigOptionsEdited.connect(self._on_options_edited)
        p.sigMethodChanged.connect(self.pick_method)
        p.sigOpacityChanged.connect(lambda v: s.set_overlay(opacity=v))
        p.sigForegroundOnlyChanged.connect(lambda on: s.set_overlay(foreground_only=on))
        p.sigDenseToggled.connect(s.set_dense_enabled)
        p.sigClearPoints.connect(s.clear_points)
        view.sigPointClicked.connect(self.click_point)
        view.sigHovered.connect(self.hover)
        view.sigHoverLeft.connect(self.end_hover)
        s.sigImagesChanged.connect(self._on_images)
        s.sigOptionsChanged.connect(self._on_options)
        s.sigSphereChanged.connect(self._on_sphere)
        s.sigFeaturesChanged.connect(self._on_features)
        s.sigPointsChanged.connect(self._on_points)
        s.sigSelectionChanged.connect(self._on_selection)
        s.sigMethodChanged.connect(self._on_method)
        s.sigMatchesChanged.connect(self._on_matches)
        s.sigDenseChanged.connect(self._on_dense)
        s.sigOverlayChanged.connect(self._on_overlay)

    @property
    def entries(self) -> dict[str, Any]:
        return self.ctx.catalog.entries

    # -- which options change the features ----------------------------------------------------------
    def effective_options(self, o: ExtractionOptions) -> ExtractionOptions:
        """``o`` with the backbone's defaults spelled out and the fields it ignores dropped, so that
        two option sets giving the same features compare equal. Unknown backbones pass unchanged."""
        e = self.entries.get(o.backbone)
        if e is None:
            return o
        resolution = o.resolution or e.default_resolution
        if e.weight_free:  # one descriptor "layer", computed on the CPU: layer, facet, device change nothing
            return replace(o, resolution=resolution, layer=None, facet=None, device="cpu")
        layer = e.default_layer if o.layer is None else o.layer
        return replace(o, resolution=resolution, layer=layer % e.depth if e.depth else layer,
                       facet=o.facet or e.default_facet)

    def feature_key(self, o: ExtractionOptions | None = None, foreground_only: bool | None = None) -> tuple:
        s = self.session
        fg = s.foreground_only if foreground_only is None else foreground_only
        return self.effective_options(o or s.options), bool(fg and self.foreground_supported(o or s.options))

    def foreground_supported(self, o: ExtractionOptions | None = None) -> bool:
        e = self.entries.get((o or self.session.options).backbone)
        return e is None or not e.weight_free

    # -- options and extraction ---------------------------------------------------------------------
    def _on_options_edited(self, v: ExtractionOptions) -> None:
        """The panel's feature options; the checkpoint is kept for the same backbone, the weights file
        is the one chosen for this backbone."""
        old = self.session.options
        checkpoint = old.checkpoint if v.backbone == old.backbone else None
        self.backbone_changing(v.backbone)
        new = replace(v, checkpoint=checkpoint, weights=self.weights_file_for(v.backbone))
        same = self.session.features is not None and self.feature_key(new) == self.feature_key(old)
        self.session.set_options(new, same_features=same)
        if same:
            self.ctx.show_status(f"{new.backbone}: this change cannot alter the features; kept them.")

    def _on_images(self) -> None:
        s = self.session
        self._feature_cache.clear()
        self._drawn = None
        self.view.set_images([im.rgb for im in s.images], [im.name for im in s.images])
        self.start_extraction()

    def _on_options(self, _o: ExtractionOptions) -> None:
        if self.session.features is None:
            self.start_extraction()

    def _on_sphere(self) -> None:
        s = self.session
        if s.method == "combined" and s.sphere_maps is not None:
            self.request_matches()

    def start_extraction(self) -> None:
        s = self.session
        if not s.images:
            return
        if self.ctx.catalog.default_pending:
            self.ctx.show_status("Choosing the backbone (looking for weights)…")
            return  # extracted once the registry worker has chosen the first-start backbone
        images, options, fg = list(s.images), s.options, s.foreground_only
        key = self.feature_key(options, fg)
        cached = self._feature_cache.get(key)
        if cached is not None:
            self.runner.cancel("extract")
            self._feature_cache.move_to_end(key)
            self._apply_features(cached, f"{options.backbone}: features from the cache (computed before).")
            return
        e = self.entries.get(options.backbone)
        if e is not None and e.available is False:
            self.runner.cancel("extract")
            looked = e.detail.split("\n", 1)[-1] if e.description and "\n" in e.detail else e.detail
            self.extraction_failed(CorrvizError(
                f"{options.backbone} has no weights here: choose a weights file or a weights folder with "
                f"'Weights…' under the backbone list, or pick a backbone whose weights are present.\n\n{looked}"),
                "its weights are not here.\n'Weights…' in the side panel chooses a file or a folder.")
            return
        fg = key[1]
        self.ctx.show_status(f"Extracting {options.backbone} features of {len(images)} image(s)…")
        self.runner.submit("extract", lambda p: with_overlays(extract_features(images, options, fg, p)),
                           on_result=lambda r, sec: self._on_extracted(r, sec, options, fg),
                           on_error=self.extraction_failed,
                           on_cancelled=lambda: self.ctx.show_status("Extraction cancelled"))

    def _remember_features(self, key: tuple, result: FeatureResult) -> None:
        self._feature_cache[key] = result
        self._feature_cache.move_to_end(key)
        while len(self._feature_cache) > FEATURE_CACHE_ENTRIES:
            self._feature_cache.popitem(last=False)

    def _on_extracted(self, result: FeatureResult, seconds: float, options: ExtractionOptions, fg: bool) -> None:
        key = self.feature_key(options, fg)  # now: the backbone list may have arrived since the job started
        self._remember_features(key, result)
        if key != self.feature_key():
            return  # computed for options that are no longer the current ones (kept in the cache)
        self.session.record_timing("extract", result.seconds or seconds)
        gh, gw = result.maps[0].grid_shape
        self._apply_features(result, f"{self.session.options.backbone}: features ready ({gh}x{gw} grid). "
                             "Click a point in any image to match it; Delete removes the selected point, "
                             "Ctrl+Z undoes.")

    def _apply_features(self, result: FeatureResult, status: str) -> None:
        self._no_features = None
        self.view.set_hint("")
        self.session.set_features(result)
        self.ctx.show_status(status)

    def extraction_failed(self, exc: BaseException, hint: str | None = None) -> None:
        """No features for the current options: clear every result and say why, in the view too."""
        self.runner.cancel("match")
        self.runner.cancel("dense")
        self.runner.cancel("pca")
        self.session.clear_results()
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self._no_features = f"No {self.session.options.backbone} features: {first}"
        if hint is None:
            hint = (first if len(first) < 70 else first[:first.rfind(" ", 0, 70)] + "…") + "\n(details in the message)"
        self.view.set_hint(f"No {self.session.options.backbone} features: {hint}")
        self.ctx.report_error(exc, "Feature extraction failed")

    def _on_features(self) -> None:
        f = self.session.features
        self.view.set_overlays(None if f is None else overlay_images(f))
        self.view.set_overlay_opacity(self.session.overlay_opacity)
        if f is None:
            self.runner.cancel("match")
            self.runner.cancel("dense")
            self._draw_matches()
            return
        self.request_matches()
        if self.session.dense_enabled:
            self.request_dense()

    def _on_overlay(self) -> None:
        s = self.session
        self.panel.set_overlay(s.overlay_opacity, s.foreground_only)
        self.view.set_overlay_opacity(s.overlay_opacity)
        f = s.features
        key = self.feature_key()
        if f is None or f.foreground_only == key[1]:
            return
        cached = self._feature_cache.get(key)
        if cached is not None:
            s.set_features(cached)
            return
        maps, fg = f.maps, key[1]

        def done(res: FeatureResult, sec: float) -> None:
            if s.features is not f or self.feature_key() != key:
                return  # the features or the choice changed meanwhile
            res.seconds = f.seconds
            self._remember_features(key, res)
            s.set_features(res)
            s.record_timing("pca", sec)
            if res.mask_source:
                share = sum(int(m.mask.sum()) for m in res.maps) / sum(m.mask.size for m in res.maps)
                self.ctx.show_status(f"Foreground only: PCA on {100 * share:.0f}% of the cells, "
                                        f"foreground = {res.mask_source}.")

        self.runner.submit("pca", lambda _p: with_overlays(pca_result(maps, fg)), on_result=done, on_error=self.ctx.report_error)

    # -- points and matching ------------------------------------------------------------------------
    def click_point(self, image: int, x: float, y: float) -> None:
        """A click in an image: select the query point under it, else add one there."""
        view = self.view
        a, b = view.view_to_widget(image, x, y), view.view_to_widget(image, x + 1.0, y)
        px_per_image_px = max(((b.x() - a.x()) ** 2 + (b.y() - a.y()) ** 2) ** 0.5, 1e-6)
        near = self.session.point_near(image, x, y, PICK_RADIUS_PX / px_per_image_px)
        if near >= 0:
            self.session.select(near)
            self.ctx.show_status(f"Point {near + 1} selected (Delete removes it, Esc deselects).")
            return
        self._click_t = time.perf_counter()
        self.session.add_point(image, x, y)

    def _on_points(self) -> None:
        self._draw_matches()
        self.request_matches()

    def _on_selection(self, _index: int) -> None:
        self._draw_matches()
        self.request_matches()  # the heatmap is the selected point's (nothing is submitted if it is shown)

    def pick_method(self, method: str) -> None:
        try:
            self.session.set_method(method)
        except CorrvizError as exc:
            self.panel.set_method(self.session.method)
            self.ctx.report_error(exc, "Matcher not available")

    def _on_method(self, method: str) -> None:
        self.panel.set_method(method)
        self.request_matches()

    def request_matches(self) -> None:
        s = self.session
        if not s.points or s.features is None or len(s.images) < 2:
            self.runner.cancel("match")
            if s.matches is not None:
                s.set_matches(None)
            if s.points and s.features is None and self._no_features is None:
                self.ctx.show_status("Features are not ready yet; the points will be matched when they are.")
            elif s.points and len(s.images) < 2:
                self.ctx.show_status("Open a second image to see matches.")
            return
        sphere = None
        if s.method == "combined":
            if s.sphere_maps is None:
                self.ctx.show_status("Sphere maps are not ready yet; the points will be matched when they are.")
                return
            sphere = tuple(s.sphere_maps)
        key = self.match_key()
        shown = self._match_shown
        if (key == self._match_pending and self.runner.busy("match")) or (
                shown is not None and shown[0] == key and s.matches is shown[1]):
            return  # this very request is running, or its result is what the session shows
        req = self._match_request(tuple(s.points), s.selected, sphere)

        def done(result, _sec: float) -> None:
            self._match_pending = None
            if self.match_key() == key:  # else: computed from stale state
                self._match_shown = (key, result)
                s.set_matches(result)
                s.record_timing("match", result.seconds)

        def failed(exc: BaseException) -> None:
            self._match_pending = None
            self.ctx.report_error(exc, "Matching failed")

        self._match_pending = key
        self.runner.submit("match", lambda _p: compute_matches(req), on_result=done, on_error=failed)

    def _match_request(self, points: tuple, heatmap_point: int, sphere: tuple | None) -> MatchRequest:
        s, grid = self.session, self.grid_checkpoint()
        return MatchRequest(tuple(s.features.maps), points, s.method, heatmap_point, sphere=sphere,
                            alpha=s.sphere_alpha, grid=grid,
                            images=tuple(im.rgb for im in s.images) if grid is not None else ())

    # -- hover-to-match -----------------------------------------------------------------------------
    def set_hover(self, on: bool) -> None:
        """Hover-to-match: the point under the cursor is matched live (not added); newest request wins."""
        self.hover_on = bool(on)
        self.view.set_hover_enabled(self.hover_on)
        if not self.hover_on:
            self.end_hover()
        self.ctx.show_status("Hover to match: on (the similarity under the cursor; click to keep a point)."
                             if self.hover_on else "Hover to match: off.")

    def hover(self, image: int, x: float, y: float) -> None:
        """Match the point under the cursor into the other images (channel ``hover``: a newer position
        cancels the older job, and only the newest result is drawn)."""
        s = self.session
        if not self.hover_on or s.features is None or len(s.images) < 2:
            return
        if s.method == "combined" and s.sphere_maps is None:
            return
        sphere = tuple(s.sphere_maps) if s.method == "combined" else None
        req = self._match_request((QueryPoint(int(image), float(x), float(y)),), 0, sphere)
        feats = s.features

        def done(result, _sec: float) -> None:
            if not self.hover_on or s.features is not feats:
                return  # hover was switched off, or the features changed, meanwhile
            self._hover_shown = True
            self.view.set_hover([DrawPoint(image, x, y, HOVER_RGB)] + [
                DrawPoint(m.target, m.xy[0], m.xy[1], HOVER_RGB, True, m.valid) for m in result.matches])
            self.view.set_heatmap_kind("confidence" if result.method == "grid" else "similarity")
            self.view.set_heatmaps(result.heatmaps)
            best = ", ".join(f"image {m.target + 1}: ({m.xy[0]:.0f}, {m.xy[1]:.0f}) sim {m.score:.2f}"
                             for m in result.matches)
            self.ctx.show_status(f"Hover ({x:.0f}, {y:.0f}) in image {image + 1} -> {best}")

        def failed(exc: BaseException) -> None:
            self.ctx.show_status(f"Hover matching failed: {exc}")  # no dialog per mouse move

        self.runner.submit("hover", lambda _p: compute_matches(req), on_result=done, on_error=failed)

    def end_hover(self) -> None:
        """The cursor left the images (or hover was switched off): the selected point's drawing comes back."""
        self.runner.cancel("hover")
        if self._hover_shown:
            self._hover_shown = False
            self.view.set_hover([])
            self._drawn = None
            self._draw_matches()

    def grid_checkpoint(self) -> tuple | None:
        """(backbone, weights, checkpoint, resolution, device) when the loaded checkpoint is a grid matcher
        (VGGT-SC); its kind is read from the file header once per path."""
        o = self.session.options
        if not o.checkpoint:
            return None
        kinds = self._checkpoint_kinds
        if o.checkpoint not in kinds:
            from corrviz.core.checkpoint import read_checkpoint_metadata

            try:
                kinds[o.checkpoint] = read_checkpoint_metadata(o.checkpoint).get("kind")
            except CorrvizError:
                kinds[o.checkpoint] = None
        if kinds[o.checkpoint] != "grid_matcher":
            return None
        return (o.backbone, o.weights, o.checkpoint, o.resolution, o.device)

    def match_key(self) -> tuple:
        """Everything the matches depend on: two equal keys give the same :class:`MatchResult`."""
        s = self.session
        sphere = id(s.sphere_maps) if s.method == "combined" else None
        return id(s.features), tuple(s.points), s.method, s.selected, sphere, s.sphere_alpha

    def _on_matches(self) -> None:
        self._draw_matches()
        if self._click_t is not None and self.session.matches is not None:
            t0, self._click_t = self._click_t, None
            self.ctx.defer(lambda: self.session.record_timing("display", time.perf_counter() - t0))

    def _draw_matches(self) -> None:
        s = self.session
        drawn = (tuple(s.points), s.selected, id(s.matches))
        if drawn == self._drawn:
            return  # the view already shows exactly this
        self._drawn = drawn
        d = match_drawing(s)
        view = self.view
        view.set_points(d.points)
        view.set_targets(d.targets)
        view.set_lines(d.lines)
        view.set_heatmap_kind("confidence" if s.matches is not None and s.matches.method == "grid" else "similarity")
        view.set_heatmaps(d.heatmaps)

    def request_dense(self) -> None:
        """Dense lines: mutual nearest neighbours of the features, or a grid-matcher checkpoint's flow."""
        s = self.session
        if s.features is None or len(s.images) < 2 or not s.dense_enabled:
            return
        feats = s.features
        src, trg = feats.maps[0], feats.maps[1]
        grid = self.grid_checkpoint()
        if grid is not None:
            rgb_s, rgb_t = s.images[0].rgb, s.images[1].rgb
            job = lambda _p: compute_grid_dense(grid, rgb_s, rgb_t, src)  # noqa: E731
        else:
            job = lambda _p: compute_dense(src, trg)  # noqa: E731

        def done(m, sec: float) -> None:
            if s.features is feats and s.dense_enabled:
                s.set_dense(m)
                s.record_timing("dense", sec)

        self.runner.submit("dense", job, on_result=done, on_error=self.ctx.report_error)

    def _on_dense(self) -> None:
        s = self.session
        if s.dense_enabled and s.dense is None:
            self.request_dense()
        self.panel.set_dense(s.dense_enabled)
        self.view.set_dense(dense_lines(s))
