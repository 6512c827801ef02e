"""The controller's evaluation part (a mixin of :class:`corrviz.app.controller.Controller`).

The Evaluation tab runs :func:`corrviz.core.evaluate.evaluate` with the session's current
backbone, options and checkpoints in a worker (channel ``eval``): the runner's per-pair / per-clip /
per-object outcomes arrive as partial results and go into the session's :class:`EvalRun`, whose
signal redraws the running plot; the finished :class:`EvalResult` fills the table and can be saved.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PyQt6.QtWidgets import QFileDialog

from corrviz.core.errors import CorrvizError
from corrviz.core.session import EvalRun

from .eval_state import (
    check_evaluable,
    check_evaluated,
    eval_series,
    headline,
    outcome_score,
    table_rows,
    task_spec,
)
from .widgets.eval_panel import EvalRequestValues


class EvalMixin:
    """Benchmark evaluation. Uses ``self.session``, ``self.window``, ``self.runner``, ``self.settings``."""

    def _init_eval(self) -> None:
        panel, s = self.window.eval_panel, self.session
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

        panel = self.window.eval_panel
        panel.set_benchmarks([(b.name, b.description) for b in BENCHMARKS.values()])
        panel.set_values(self.settings.eval_benchmark, self.settings.eval_data, self.session.method, None)

    def _show_eval_features(self) -> None:
        o, s = self.session.options, self.session
        text = (f"{o.backbone}, resolution {o.resolution or 'default'}, {o.canvas}, layer "
                f"{'default' if o.layer is None else o.layer}, facet {o.facet or 'default'}, {o.device}; "
                f"checkpoint {Path(o.checkpoint).name if o.checkpoint else 'none'}; sphere mapper "
                f"{Path(s.sphere_checkpoint).name if s.sphere_checkpoint else 'none'} (alpha {s.sphere_alpha:.2f}). "
                "Change them in the side panel.")
        self.window.eval_panel.set_features_text(text)

    def ask_eval_folder(self) -> None:
        start = self.window.eval_panel.data_root.text() or (self.settings.last_folder or str(Path.home()))
        d = QFileDialog.getExistingDirectory(self.window, "Benchmark data folder", start)
        if d:
            self.window.eval_panel.data_root.setText(d)

    # -- running ------------------------------------------------------------------------------------
    def run_evaluation(self, v: EvalRequestValues | None = None) -> bool:
        """Start a benchmark run with the current features; False (and a message) if it cannot start."""
        from corrviz.core.evaluate import MatcherSpec, evaluate

        panel, s = self.window.eval_panel, self.session
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
            self.window.show_error("Cannot run the evaluation", problem)
            return False
        spec = s.options  # the one feature-options type: the session's options are evaluate()'s spec
        sphere = replace(spec, checkpoint=s.sphere_checkpoint) if v.method == "combined" else None
        matcher = MatcherSpec(v.method, alpha=s.sphere_alpha)
        self.settings.update(eval_benchmark=v.benchmark, eval_data=v.data_root)
        s.start_evaluation(EvalRun(v.benchmark, v.data_root, v.method, v.limit))
        panel.set_result("", [], [])
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
            self.window.eval_panel.set_status("Cancelling…")

    def _on_eval_done(self, result, seconds: float) -> None:
        self.session.finish_evaluation("done", result, f"finished in {seconds:.1f} s")

    def _clear_eval_result(self) -> None:
        """No headline, table or curve of an earlier run stays next to a new error."""
        panel = self.window.eval_panel
        panel.set_result("", [], [])
        panel.set_series("", np.zeros(0), np.zeros(0), np.zeros(0), True)

    def _on_eval_error(self, exc: Exception) -> None:
        self._clear_eval_result()
        self.session.finish_evaluation("failed", message=str(exc) if isinstance(exc, CorrvizError)
                                       else f"{type(exc).__name__}: {exc}")
        self.report_error(exc, "Evaluation failed")

    def _on_evaluation(self) -> None:
        run, panel = self.session.evaluation, self.window.eval_panel
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
        if run.state == "done":
            r = run.result
            label, value = headline(r)
            scale, unit = (100, " %") if task_spec(r.benchmark).percent else (1, "")
            panel.set_result(f"{label} = {value * scale:.2f}{unit}   (n = {r.protocol.get('subset_size')}, "
                             f"skipped {r.n_skipped})", *table_rows(r))
            panel.set_status(f"{run.benchmark} done: {run.message}. Save the JSON, CSV and plots with "
                             "'Save results…'.")
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
        self.window.eval_panel.set_status(f"Results written to {out_dir}: "
                                          + ", ".join(sorted(p.name for p in paths.values())))
        return paths

    def ask_save_results(self) -> None:
        start = (self.settings.last_folder or str(Path.home()))
        d = QFileDialog.getExistingDirectory(self.window, "Save evaluation results into", start)
        if d:
            try:
                self.save_results(d)
            except (CorrvizError, OSError) as exc:
                self.window.show_error("Saving failed", str(exc))
