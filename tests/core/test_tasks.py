"""Adding a benchmark task touches one place: a TaskSpec in corrviz.core.evaluate.tasks."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from corrviz.core.evaluate import BENCHMARKS, Benchmark, evaluate  # noqa: E402
from corrviz.core.evaluate.result import EvalResult, row  # noqa: E402
from corrviz.core.evaluate.tasks import TASKS, TaskSpec, get_task  # noqa: E402


def test_every_benchmark_has_a_registered_task():
    assert {b.task for b in BENCHMARKS.values()} <= set(TASKS)
    assert set(TASKS) >= {"keypoints", "tracking", "multiview", "pose"}
    with pytest.raises(Exception, match="unknown benchmark task 'nope'"):
        get_task("nope")


def test_a_new_task_is_one_registry_entry(monkeypatch, tmp_path):
    """A toy task: evaluate() runs it, save_plots() draws it, the app's panel state scores and shows it."""
    import matplotlib.pyplot as plt

    from corrviz.app.eval_state import check_evaluable, eval_series, headline, outcome_score, table_rows
    from corrviz.core.session import EvalRun

    calls = []

    def run(call):
        calls.append(call)
        for k in range(3):
            call.on_result({"id": f"item{k}", "hit": k != 1})
        res = EvalResult(call.bench.name, "toy", {"subset_size": 3})
        res.rows = [row("hit_rate", 2 / 3, aggregation="mean", category="all", n_pairs=3),
                    row("seconds", 1.5, aggregation="mean", category="all", n_pairs=3)]
        return res

    def plots(result):
        fig = plt.figure()
        return {"hits": fig}

    toy = TaskSpec("toy", "items", run, plots, lambda r: ("hit rate", r.value("hit_rate")),
                   lambda _b, o: (o["id"], float(o["hit"]), 1.0), lambda _b, _o: "hit rate",
                   reads_dataset=False, raw_metrics=("seconds",))
    monkeypatch.setitem(TASKS, "toy", toy)
    monkeypatch.setitem(BENCHMARKS, "toybench", Benchmark("toybench", "toy", "toy", "toy", None))
    outcomes = []
    result = evaluate("toybench", str(tmp_path), "dense_sift", "nn", limit=3, on_result=outcomes.append)
    assert len(calls) == 1 and calls[0].limit == 3 and len(outcomes) == 3
    check_evaluable("toybench", str(tmp_path))  # reads_dataset=False: no loader is opened
    run_state = EvalRun("toybench", str(tmp_path), "nn", scores=[outcome_score("toybench", o) for o in outcomes])
    series = eval_series(run_state)
    assert series.title == "hit rate" and series.percent
    np.testing.assert_allclose(series.running, [1.0, 0.5, 2 / 3])
    assert headline(result) == ("hit rate", pytest.approx(series.running[-1]))  # the curve ends at the headline
    header, rows = table_rows(result)
    assert rows == [["hit_rate", "None", "", "66.67", "3"], ["seconds", "None", "", "1.5000", "3"]]
    paths = result.save(tmp_path / "out")
    assert any(p.name.endswith("_hits.png") for p in paths.values())


def test_tracking_matchers_come_from_the_task():
    with pytest.raises(Exception, match="tracking supports the nn and soft-argmax matchers, not 'mnn'"):
        evaluate("badja", "/nonexistent", "dense_sift", "mnn")
