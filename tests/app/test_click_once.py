"""A click recomputes once: one match job, one similarity per target image, one redraw per visible change."""

from __future__ import annotations

import threading

import pytest

from .conftest import astronaut_pair, click_image

pytestmark = pytest.mark.gui


class Counter:
    def __init__(self) -> None:
        self.n = 0
        self._lock = threading.Lock()

    def wrap(self, fn, when=lambda *a, **k: True):
        def counted(*args, **kwargs):
            if when(*args, **kwargs):
                with self._lock:
                    self.n += 1
            return fn(*args, **kwargs)
        return counted


@pytest.mark.parametrize("n_images", [2, 3])
def test_one_click_one_match_job_one_similarity_per_target(qtbot, make_controller, tmp_path, monkeypatch, n_images):
    import corrviz.app.controller_pair as pair_controller
    import corrviz.core.matching as matching

    c = make_controller()
    src, trg, _ = astronaut_pair(tmp_path)
    c.open_paths([str(src), str(trg), str(trg)][:n_images])
    qtbot.waitUntil(lambda: c.session.features is not None and not c.runner.busy(), timeout=60000)

    jobs, sims, draws = Counter(), Counter(), Counter()
    monkeypatch.setattr(c.runner, "submit", jobs.wrap(c.runner.submit, lambda channel, *a, **k: channel == "match"))
    monkeypatch.setattr(matching, "similarity_to_grid", sims.wrap(matching.similarity_to_grid))
    monkeypatch.setattr(pair_controller, "match_drawing", draws.wrap(pair_controller.match_drawing))

    for k, (x, y) in enumerate([(200.0, 150.0), (120.0, 90.0)]):
        before = (jobs.n, sims.n, draws.n)
        click_image(qtbot, c, 0, x, y)
        qtbot.waitUntil(lambda k=k: c.session.matches is not None and len(c.session.matches.for_query(k)) > 0
                        and not c.runner.busy(), timeout=20000)
        qtbot.wait(50)  # anything queued behind the result would run now
        assert jobs.n - before[0] == 1, "a click submits exactly one match job"
        # soft-argmax: the match, its confidence and the heatmap all come from one similarity per target image
        # (points of image 0 are matched into the n-1 other images in one batched similarity each)
        assert sims.n - before[1] == n_images - 1
        # one redraw showing the new point at once, one when its matches arrive
        assert draws.n - before[2] == 2
    m = c.session.matches
    assert {pm.target for pm in m.matches} == set(range(1, n_images)) and len(m.matches) == 2 * (n_images - 1)
    assert all(pm.confidence is not None and 0 < pm.confidence <= 1 for pm in m.matches)
    assert set(m.heatmaps) == set(range(1, n_images))
