"""The small controllers with mocked views and a synchronous runner: no window, no display (ndv's pattern).

Each controller is given the session model, an :class:`AppContext` and a ``MagicMock`` view; the
tests assert on what the controller told its view and on the session, with real features
(dense SIFT on a photo pair with a known shift) and hand-built evaluation outcomes.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from unittest.mock import MagicMock

import numpy as np
import pytest

from corrviz.app.annotations import PairAnnotations
from corrviz.app.context import AppContext
from corrviz.app.controller_checkpoints import CheckpointController
from corrviz.app.controller_eval import EvalController
from corrviz.app.controller_pair import PairController
from corrviz.app.controller_scene import SceneController
from corrviz.app.controller_video import VideoController
from corrviz.app.eval_state import CORRECT_RGB, TRUTH_RGB, WRONG_RGB, EvalRequestValues, worst_first
from corrviz.core.session import EvalRun, ExtractionOptions, Session, extract_maps, load_images

from .conftest import SyncRunner, astronaut_pair


class FakeSettings(SimpleNamespace):
    def update(self, **kw):  # noqa: ANN003
        self.__dict__.update(kw)

    def value(self, key, default=None):  # noqa: ANN001
        return self.__dict__.get(key, default)

    def set_value(self, key, value):  # noqa: ANN001
        self.__dict__[key] = value


def make_ctx(session: Session) -> AppContext:
    settings = FakeSettings(last_folder="", weights_files={}, weights_dir="", backbone="dense_sift")
    errors: list[BaseException] = []

    def report(exc, title="corrviz"):  # noqa: ANN001
        errors.append(exc)

    ctx = AppContext(session, SyncRunner(), settings, report, MagicMock(), MagicMock(), dialogs=MagicMock(),
                     show_tab=MagicMock(), defer=lambda fn: fn())
    ctx.errors = errors  # type: ignore[attr-defined]
    return ctx


def widget_point(x: float, y: float) -> SimpleNamespace:
    return SimpleNamespace(x=lambda: x, y=lambda: y)


@pytest.fixture
def pair(tmp_path):
    """A pair controller over the astronaut crops (target = source shifted by (-37, -21) px), dense SIFT."""
    session = Session()
    session.options = ExtractionOptions(backbone="dense_sift")
    ctx = make_ctx(session)
    view, panel = MagicMock(), MagicMock()
    view.view_to_widget.side_effect = lambda _i, x, y: widget_point(x, y)  # 1 screen px per image px
    controller = PairController(ctx, view, panel)
    src, trg, shift = astronaut_pair(tmp_path)
    session.set_images(load_images([str(src), str(trg)]))
    return SimpleNamespace(ctx=ctx, session=session, view=view, panel=panel, c=controller, shift=shift)


def test_pair_controller_extracts_once_and_a_click_draws_the_known_shift(pair):
    s, view = pair.session, pair.view
    assert pair.ctx.runner.channels == ["extract"] and s.features is not None
    view.set_images.assert_called_once()
    assert [t[0] for t in view.set_images.call_args.args[1]] != []  # names passed with the images
    view.set_overlays.assert_called()  # the joint-PCA overlays of the new features
    pair.c.click_point(0, 200.0, 150.0)
    assert pair.ctx.runner.channels.count("match") == 1, "one click, one match job"
    (point,) = view.set_points.call_args.args[0]
    assert (point.image, point.x, point.y) == (0, 200.0, 150.0)
    targets = view.set_targets.call_args.args[0]
    assert len(targets) == 1 and targets[0].image == 1
    found = np.array([targets[0].x, targets[0].y])
    expected = np.array([200.0, 150.0]) + pair.shift
    assert np.linalg.norm(found - expected) < 8.0, (found, expected)  # dense SIFT finds the shift (8-px cells)
    assert 1 in view.set_heatmaps.call_args.args[0]  # the similarity heatmap on the target
    pair.ctx.show_status.reset_mock()
    pair.c.click_point(0, 204.0, 146.0)  # within the pick radius: selects, adds nothing
    assert len(s.points) == 1 and s.selected == 0
    assert "selected" in pair.ctx.show_status.call_args.args[0]


def test_pair_controller_reuses_cached_features_when_an_option_set_comes_back(pair):
    s = pair.session
    first = s.features
    pair.c._on_options_edited(ExtractionOptions(backbone="daisy"))
    assert pair.ctx.runner.channels.count("extract") == 2 and s.features is not first
    pair.c._on_options_edited(ExtractionOptions(backbone="dense_sift"))
    assert pair.ctx.runner.channels.count("extract") == 2, "back to dense SIFT: from the cache, no extraction"
    assert s.features is first


def test_hover_to_match_draws_the_match_under_the_cursor_without_adding_a_point(pair):
    s, view = pair.session, pair.view
    pair.c.hover(0, 200.0, 150.0)
    assert pair.ctx.runner.channels == ["extract"], "hover is off by default: nothing is matched"
    pair.c.set_hover(True)
    view.set_hover_enabled.assert_called_with(True)
    pair.c.hover(0, 200.0, 150.0)
    assert pair.ctx.runner.channels[-1] == "hover" and s.points == [] and s.matches is None
    src, trg = view.set_hover.call_args.args[0]
    assert (src.image, src.x, src.y) == (0, 200.0, 150.0) and trg.image == 1
    assert np.linalg.norm(np.array([trg.x, trg.y]) - (np.array([200.0, 150.0]) + pair.shift)) < 8.0
    heat = view.set_heatmaps.call_args.args[0]
    assert set(heat) == {1} and np.nanmax(heat[1]) > 0.5  # the live similarity on the target
    pair.c.end_hover()  # the cursor left: the hover drawing goes, the session's (no) matches come back
    assert view.set_hover.call_args.args[0] == [] and view.set_heatmaps.call_args.args[0] == {}
    pair.c.set_hover(False)
    view.set_hover_enabled.assert_called_with(False)


def test_failed_extraction_clears_results_and_says_why_in_the_view(pair):
    pair.c.click_point(0, 120.0, 90.0)
    assert pair.session.matches is not None
    pair.c.extraction_failed(RuntimeError("no weights for it"))
    assert pair.session.features is None and pair.session.matches is None
    assert "no weights for it" in pair.view.set_hint.call_args.args[0]
    assert pair.view.set_targets.call_args.args[0] == []  # nothing of the old features stays drawn


def test_scene_controller_builds_its_view_on_first_use_and_maps_a_pick_to_a_click(pair):
    clicks = []
    view3d = MagicMock()
    made = []
    scene = SceneController(pair.ctx, lambda: made.append(1) or view3d, click_point=lambda *a: clicks.append(a))
    assert not made, "no 3-D view (no OpenGL context) until it is shown"
    scene.ensure_view()
    scene.ensure_view()
    assert made == [1]
    f = pair.session.features
    pts, colors, cells = view3d.set_point_clouds.call_args.args[:3]
    assert pts is f.points3d and colors is f.colors3d and cells is f.cells3d
    scene._on_pick(1, 2, 3)  # cell (row 2, col 3) of the target
    (image, x, y), = clicks
    ex, ey = f.maps[1].transform.cell_to_image(np.array([2.0, 3.0]))
    assert image == 1 and (x, y) == pytest.approx((float(ex), float(ey)))


def test_video_controller_refuses_to_track_before_features_and_reads_the_step_from_its_view():
    session = Session()
    ctx = make_ctx(session)
    view = MagicMock()
    view.occlusion_setting.return_value = ("cycle", 2.0)
    view.step_value.return_value = 7
    video = VideoController(ctx, view)
    video.track_point(10.0, 20.0)
    assert "not ready" in view.show_message.call_args.args[0] and ctx.runner.channels == []
    video.open_video("/nonexistent/clip.mp4")
    assert ctx.runner.channels == ["video"] and ctx.errors, "a missing video is an error, not a silent no-op"
    assert "clip.mp4" in str(ctx.errors[-1]) and "every 7 frames" in ctx.show_status.call_args.args[0]


class QueueRunner(SyncRunner):
    """Keeps jobs until ``run_all()``; a newer job on a channel supersedes the queued one (newest wins)."""

    def __init__(self) -> None:
        super().__init__()
        self.queued: dict[str, tuple] = {}

    def submit(self, channel, fn, on_result=None, on_error=None, **kw):  # noqa: ANN001
        self.channels.append(channel)
        self.queued[channel] = (fn, on_result, on_error)

    def run_all(self) -> None:
        for channel in list(self.queued):
            fn, on_result, on_error = self.queued.pop(channel)
            SyncRunner.submit(self, channel, fn, on_result, on_error)


def test_two_quick_clicks_on_a_video_keep_both_tracks():
    """The second click arrives before the first track is computed: the newest job must track both points."""
    session = Session()
    ctx = make_ctx(session)
    ctx.runner = QueueRunner()
    view = MagicMock()
    view.occlusion_setting.return_value = ("cycle", 2.0)
    video = VideoController(ctx, view)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(3)]
    from corrviz.core.tracking import VideoFrames

    session.set_video("clip.mp4", VideoFrames(frames, [0, 1, 2], 10.0, 1, "clip.mp4"), 1)
    session.set_video_features(extract_maps(frames, ExtractionOptions(backbone="dense_sift")))
    video.track_point(20.0, 20.0)
    video.track_point(40.0, 30.0)  # before the first job has run
    ctx.runner.run_all()
    assert session.track is not None and session.track.num_points == 2
    assert session.track_query == [(0, 20.0, 20.0), (0, 40.0, 30.0)]
    video.track_point(10.0, 50.0)
    ctx.runner.run_all()
    assert session.track.num_points == 3


def test_checkpoint_controller_refuses_a_missing_weights_file_and_keeps_the_settings(tmp_path):
    session = Session()
    ctx = make_ctx(session)
    panel = MagicMock()
    ck = CheckpointController(ctx, panel)
    assert ck.set_weights_file("vit_tiny_patch16_224", str(tmp_path / "missing.safetensors")) is False
    title, message = ctx.show_error.call_args.args
    assert "missing.safetensors" in message and "does not exist" in message
    assert ctx.settings.weights_files == {}
    good = tmp_path / "w.safetensors"
    good.write_bytes(b"0")
    assert ck.set_weights_file("vit_tiny_patch16_224", str(good))
    assert ctx.settings.weights_files == {"vit_tiny_patch16_224": str(good)}
    panel.set_weights_state.assert_called_with("vit_tiny_patch16_224", True, f"chosen file:{good}")


# -- evaluation: the pairs worst first, one opened with its keypoints -------------------------------------
def _outcome(tmp_path: Path, pair_id: str, errors: list[float], images: tuple[Path, Path]):
    from corrviz.core.datasets.base import PairRecord
    from corrviz.core.evaluate.keypoints import PairOutcome
    from corrviz.core.metrics.pck import pair_errors

    n = len(errors)
    src = np.array([[20.0 + 30 * k, 40.0] for k in range(n)])
    trg = src + 5.0
    pred = trg + np.array([[e, 0.0] for e in errors])
    rec = PairRecord(pair_id, "test", "thing", images[0], images[1], src, trg, tuple(map(str, range(n))),
                     tuple(map(str, range(n))), (320, 320), (320, 320), trg_bbox=np.array([0.0, 0.0, 100.0, 80.0]))
    errs = pair_errors(pred, trg, pair_id=pair_id, category="thing", trg_bbox=rec.trg_bbox, trg_image_size=(320, 320))
    return PairOutcome(errs, pred, 0, rec)


def test_evaluated_pairs_are_listed_worst_first_and_open_with_truth_and_predictions(tmp_path):
    src, trg, _ = astronaut_pair(tmp_path)
    session = Session()
    ctx = make_ctx(session)
    panel, pair_view = MagicMock(), MagicMock()
    annotations = PairAnnotations(session, pair_view, ctx)
    ev = EvalController(ctx, panel, annotations)
    run = EvalRun("spair", str(tmp_path), "nn")
    # bbox 100 x 80 -> PCK@0.1 radius 10 px: errors 0 / 50 px are right / wrong
    run.outcomes = [_outcome(tmp_path, "half", [0.0, 50.0], (src, trg)),
                    _outcome(tmp_path, "all", [0.0, 1.0, 2.0], (src, trg)),
                    _outcome(tmp_path, "none", [50.0, 60.0], (src, trg)),
                    _outcome(tmp_path, "none-worse", [80.0, 90.0], (src, trg))]
    items = worst_first(run)
    assert [it.pair_id for it in items] == ["none-worse", "none", "half", "all"]  # ties: larger error first
    assert [it.score for it in items] == [0.0, 0.0, 0.5, 1.0]
    session.start_evaluation(run)
    session.finish_evaluation("cancelled", message="test")
    assert [lb.split()[2] for lb in panel.set_items.call_args.args[0]] == ["none-worse", "none", "half", "all"]
    assert ev.open_item(2)  # "half"
    lines, marks = pair_view.set_annotations.call_args.args
    assert [ln.rgb for ln in lines] == [CORRECT_RGB, WRONG_RGB]
    assert (lines[1].xb, lines[1].yb) == (50.0 + 5 + 50, 45.0)  # source keypoint 1 -> its (wrong) prediction
    truth = [m for m in marks if m.rgb == TRUTH_RGB]
    assert len(truth) == 4 and {(m.image, m.x, m.y) for m in truth} >= {(1, 55.0, 45.0), (0, 50.0, 40.0)}
    assert [(m.x, m.rgb) for m in marks if m.rgb != TRUTH_RGB] == [(25.0, CORRECT_RGB), (105.0, WRONG_RGB)]
    assert [im.name.split()[0] for im in session.images] == ["half:", "predictions:"] and len(session.images) == 2
    ctx.show_tab.assert_called_with("2d")
    assert "1 of 2 keypoints" in ctx.show_status.call_args.args[0]
    session.set_images(load_images([str(trg), str(src)]))  # other images: the drawing no longer applies
    assert pair_view.set_annotations.call_args.args == ([], [])
    assert not ev.open_item(9)


def test_evaluation_with_a_missing_folder_is_refused_before_any_work(tmp_path):
    session = Session()
    ctx = make_ctx(session)
    panel = MagicMock()
    ev = EvalController(ctx, panel)
    ok = ev.run_evaluation(EvalRequestValues("spair", str(tmp_path / "nowhere"), "nn", None))
    assert ok is False and ctx.runner.channels == []
    text, kwargs = panel.set_status.call_args.args[0], panel.set_status.call_args.kwargs
    assert "nowhere" in text and "does not exist" in text and kwargs.get("error") is True
    panel.set_items.assert_called_with([])  # no pair list of an earlier run next to the error
