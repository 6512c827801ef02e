"""The evaluation controller: the Evaluation tab over the session (its view: :class:`EvalPanelLike`, or a mock).

The Evaluation tab runs :func:`corrviz.core.evaluate.evaluate` with the session's current
backbone, options and checkpoints in a worker (channel ``eval``): the runner's per-pair / per-clip /
per-object outcomes arrive as partial results and go into the session's :class:`EvalRun`, whose
signal redraws the running plot; the finished :class:`EvalResult` fills the table and can be saved.

The evaluated keypoint pairs are listed worst first (lowest PCK@0.1); opening one shows it in the
2-D view with its ground-truth keypoints and the predictions drawn (:mod:`corrviz.app.annotations`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from corrviz.core.errors import CorrvizError
from corrviz.core.session import EvalRun

from .context import AppContext, start_folder
from .eval_state import (
    EvalItem,
    EvalRequestValues,
    check_evaluable,
    check_evaluated,
    eval_series,
    headline,
    outcome_score,
    pair_annotation,
    table_rows,
    task_spec,
    worst_first,
)


class EvalPanelLike(Protocol):
    """What the evaluation controller needs of :class:`corrviz.app.widgets.eval_panel.EvalPanel`."""

    sigRun: Any  # EvalRequestValues
    sigCancel: Any
    sigSave: Any
    sigBrowse: Any
    sigOpenItem: Any  # index into the list of evaluated pairs

    def values(self) -> EvalRequestValues: ...
    def set_values(self, benchmark: str, data_root: str, method: str, limit: int | None) -> None: ...
    def set_benchmarks(self, entries: list[tuple[str, str]]) -> None: ...
    def set_features_text(self, text: str) -> None: ...
    def set_data_root(self, path: str) -> None: ...
    def set_running(self, running: bool) -> None: ...
    def set_progress(self, done: int, total: int, message: str) -> None: ...
    def set_status(self, text: str, error: bool = False) -> None: ...
    def set_series(self, title: str, x: np.ndarray, item: np.ndarray, running: np.ndarray, percent: bool) -> None: ...
    def set_result(self, headline: str, header: list[str], rows: list[list[str]]) -> None: ...
    def set_items(self, labels: list[str]) -> None: ...


class EvalController:
    """Benchmark evaluation. ``annotations`` (:class:`~corrviz.app.annotations.PairAnnotations`) opens an
    evaluated pair in the 2-D view."""

    def __init__(self, ctx: AppContext, panel: EvalPanelLike, annotations: Any = None) -> None:
        self.ctx, self.session, self.runner, self.settings = ctx, ctx.session, ctx.runner, ctx.settings
        self.panel, self.annotations = panel, annotations
        self.items: list[EvalItem] = []  # evaluated pairs of the last run, worst first
        s = self.session
        panel.sigOpenItem.connect(self.open_item)
        panel.sigRun.connect(self.run_evaluation)
        panel.sigCancel.connect(self.cancel_evaluation)
        panel.sigSave.connect(self.ask_save_results)
        panel.sigBrowse.connect(self.ask_eval_folder)
        s.sigEvaluationChanged.connect(self._on_evaluation)
        s.sigOptionsChanged.connect(lambda _o: self._show_eval_features())
        s.sigSphereChanged.connect(self._show_eval_features)
        self._show_eval_features()

    def fill_benchmarks(self) -> None:
        """Called once torch has loaded (the evaluation package imports it)."""
        from corrviz.core.evaluate import BENCHMARKS

        panel = self.panel
        panel.set_benchmarks([(b.name, b.description) for b in BENCHMARKS.values()])
        panel.set_values(self.settings.eval_benchmark, self.settings.eval_data, self.session.method, None)

    def _show_eval_features(self) -> None:
        o, s = self.session.options, self.session
        text = (f"{o.backbone}, resolution {o.resolution or 'default'}, {o.canvas}, layer "
                f"{'default' if o.layer is None else o.layer}, facet {o.facet or 'default'}, {o.device}; "
                f"checkpoint {Path(o.checkpoint).name if o.checkpoint else 'none'}; sphere mapper "
                f"{Path(s.sphere_checkpoint).name if s.sphere_checkpoint else 'none'} (alpha {s.sphere_alpha:.2f}). "
                "Change them in the side panel.")
        self.panel.set_features_text(text)

    def ask_eval_folder(self) -> None:
        start = self.panel.values().data_root or start_folder(self.settings)
        d = self.ctx.dialogs.folder("Benchmark data folder", start)
        if d:
            self.panel.set_data_root(d)

    # -- running ------------------------------------------------------------------------------------
    def run_evaluation(self, v: EvalRequestValues | None = None) -> bool:
        """Start a benchmark run with the current features; False (and a message) if it cannot start."""
        from corrviz.core.evaluate import MatcherSpec, evaluate

        panel, s = self.panel, self.session
        v = v or panel.values()
        problem = ""
        if not v.benchmark:
            problem = "Pick a benchmark."
        elif not v.data_root:
            problem = "Choose the benchmark's data folder (multiview also accepts 'default')."
        elif v.data_root != "default" and not Path(v.data_root).exists():
            problem = f"The data folder {v.data_root} does not exist."
        elif v.method == "combined" and s.sphere_checkpoint is None:
            problem = "The combined matcher needs a sphere-mapper checkpoint (side panel > Sphere mapper)."
        if problem:
            self._clear_eval_result()
            panel.set_status(problem, error=True)
            self.ctx.show_error("Cannot run the evaluation", problem)
            return False
        spec = s.options  # the one feature-options type: the session's options are evaluate()'s spec
        sphere = replace(spec, checkpoint=s.sphere_checkpoint) if v.method == "combined" else None
        matcher = MatcherSpec(v.method, alpha=s.sphere_alpha)
        self.settings.update(eval_benchmark=v.benchmark, eval_data=v.data_root)
        s.start_evaluation(EvalRun(v.benchmark, v.data_root, v.method, v.limit))
        panel.set_result("", [], [])
        self._set_items([])  # no pair of an earlier run is listed while this one runs
        panel.set_progress(0, 0, "opening the dataset")
        panel.set_running(True)
        bench = v.benchmark

        def job(p):
            check_evaluable(bench, v.data_root)
            result = evaluate(bench, v.data_root, spec, matcher, v.limit, progress=p, on_result=p.partial,
                              sphere=sphere)
            check_evaluated(result, v.data_root)
            return result

        self.runner.submit("eval", job, on_result=self._on_eval_done, on_error=self._on_eval_error,
                           on_progress=panel.set_progress,
                           on_cancelled=lambda: s.finish_evaluation("cancelled", message="cancelled by the user"),
                           on_partial=lambda outcome: s.add_eval_outcome(outcome, outcome_score(bench, outcome)))
        return True

    def cancel_evaluation(self) -> None:
        if self.runner.cancel("eval"):
            self.panel.set_status("Cancelling…")

    def _on_eval_done(self, result, seconds: float) -> None:
        self.session.finish_evaluation("done", result, f"finished in {seconds:.1f} s")

    def _clear_eval_result(self) -> None:
        """No headline, table, curve or pair list of an earlier run stays next to a new error."""
        panel = self.panel
        panel.set_result("", [], [])
        panel.set_series("", np.zeros(0), np.zeros(0), np.zeros(0), True)
        self._set_items([])

    def _on_eval_error(self, exc: Exception) -> None:
        self._clear_eval_result()
        self.session.finish_evaluation("failed", message=str(exc) if isinstance(exc, CorrvizError)
                                       else f"{type(exc).__name__}: {exc}")
        self.ctx.report_error(exc, "Evaluation failed")

    def _on_evaluation(self) -> None:
        run, panel = self.session.evaluation, self.panel
        if run is None:
            return
        series = eval_series(run)
        panel.set_series(series.title, series.x, series.item, series.running, series.percent)
        if run.state == "running":
            if series.running.size:
                value = series.running[-1] * (100 if series.percent else 1)
                panel.set_status(f"{run.benchmark}: {len(run.scores)} item(s) evaluated; running {series.title} "
                                 f"= {value:.2f}{' %' if series.percent else ''}")
            else:
                panel.set_status(f"{run.benchmark}: running…")
            return
        panel.set_running(False)
        self._set_items(worst_first(run) if run.state in ("done", "cancelled") else [])
        if run.state == "done":
            r = run.result
            label, value = headline(r)
            scale, unit = (100, " %") if task_spec(r.benchmark).percent else (1, "")
            panel.set_result(f"{label} = {value * scale:.2f}{unit}   (n = {r.protocol.get('subset_size')}, "
                             f"skipped {r.n_skipped})", *table_rows(r))
            panel.set_status(f"{run.benchmark} done: {run.message}. Save the JSON, CSV and plots with "
                             "'Save results…'." + (" Double-click an evaluated pair (worst first) to open it in "
                                                  "the 2-D view." if self.items else ""))
        elif run.state == "cancelled":
            panel.set_status(f"{run.benchmark}: cancelled after {len(run.scores)} item(s).")
        else:
            self._clear_eval_result()
            panel.set_status(f"{run.benchmark} failed: {run.message}", error=True)

    # -- saving -------------------------------------------------------------------------------------
    def save_results(self, out_dir: str | Path) -> dict[str, Path]:
        run = self.session.evaluation
        if run is None or run.result is None:
            raise CorrvizError("no finished evaluation to save")
        paths = run.result.save(out_dir)
        self.panel.set_status(f"Results written to {out_dir}: "
                                          + ", ".join(sorted(p.name for p in paths.values())))
        return paths

    def ask_save_results(self) -> None:
        d = self.ctx.dialogs.folder("Save evaluation results into", start_folder(self.settings))
        if d:
            try:
                self.save_results(d)
            except (CorrvizError, OSError) as exc:
                self.ctx.show_error("Saving failed", str(exc))

    # -- evaluated pairs ----------------------------------------------------------------------------
    def _set_items(self, items: list[EvalItem]) -> None:
        self.items = items
        self.panel.set_items([it.label for it in items])

    def open_item(self, k: int) -> bool:
        """Open the ``k``-th evaluated pair of the list (worst first) in the 2-D view with its ground-truth
        keypoints and the predictions drawn; False when the list has no such pair."""
        run = self.session.evaluation
        if run is None or not 0 <= k < len(self.items) or self.annotations is None:
            return False
        item = self.items[k]
        outcome = run.outcomes[item.index]
        rec, bench = outcome.record, run.benchmark
        try:
            drawing = pair_annotation(bench, outcome)
        except CorrvizError as exc:
            self.ctx.report_error(exc, "Cannot show the pair")
            return False

        def done() -> None:
            self.ctx.show_tab("2d")
            self.ctx.show_status(drawing.text)

        self.annotations.open([str(rec.src_image), str(rec.trg_image)], [drawing.source_title, drawing.title],
                              drawing.lines, drawing.marks, self, done)
        return True
