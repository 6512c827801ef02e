"""The training controller: the training panel and a ``corrviz-train`` child process over the session.

The view (:class:`corrviz.app.training_panel.TrainingPanel`, or a mock in the tests) emits what
the user asked for as ``sig*`` signals and shows what it is given; this controller holds the
state: the method, the config text (YAML, checked by :func:`corrviz.training.trainer.prepare` in
a worker before anything starts, its errors shown in the panel), the running
:class:`~corrviz.app.train_process.TrainProcess` and the :class:`~corrviz.app.run_monitor.RunSeries`
its ``metrics.jsonl`` feeds. :meth:`TrainingController.poll` is called from a timer (every
``POLL_MS``); it reads only the new lines of the metrics log, so the GUI thread does no training
work at all.

When a run ends with a checkpoint, ``on_checkpoint(path, run)`` puts it into the checkpoint picker
and ``on_compare(run)`` opens the before/after view; both are given by the main controller.

``ctx`` is the app context (:class:`corrviz.app.context.AppContext`): ``session``, ``runner`` (``submit(channel, fn,
on_result=, on_error=)``), ``settings`` (``value(key, default)``, ``setValue``/``set_value``),
``report_error(exc, title)`` and ``show_status(text)``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corrviz.core.errors import CorrvizError

from .run_monitor import MetricsTail, RunInfo, RunSeries, list_runs, progress_text, read_run_info, run_status
from .train_process import TrainProcess, train_command

POLL_MS = 250
DEFAULT_PRESET = "defaults"
PANEL_CONFIG = "panel_config.yaml"  # the config as the panel's editor held it at start (--config)


@dataclass(frozen=True)
class DataChoice:
    """One kind of training data the panel offers; ``key`` is the config key it sets (``data.<key>``)."""

    kind: str
    label: str
    key: str | None
    supported: bool = True
    why_not: str = ""


DATA_KINDS = (("default", "Default objects (the config's data section)", None),
              ("categories", "Synthetic category set", "objects"),
              ("folder", "Dataset folder (corrviz-data synthetic)", "root"),
              ("meshes", "Mesh folder", "mesh_dir"),
              ("video", "Video", "video"))


def data_choices(method: str, data_section: dict[str, Any]) -> list[DataChoice]:
    """The data kinds a method's config accepts (it has the key), the rest with the reason they are not."""
    out = []
    for kind, label, key in DATA_KINDS:
        ok = key is None or key in data_section
        why = "" if ok else (f"{method}'s config has no data.{key} key: this method does not train on "
                             f"{label.lower()}s")
        out.append(DataChoice(kind, label, key, ok, why))
    return out


def set_config_value(text: str, key: str, value: Any) -> str:
    """The YAML ``text`` with dotted ``key`` set to ``value`` (raises ConfigError on unreadable YAML)."""
    from omegaconf import OmegaConf

    from corrviz.training.config import ConfigError

    try:
        conf = OmegaConf.create(text or "{}")
    except Exception as exc:  # noqa: BLE001 - yaml errors of any kind
        raise ConfigError(f"the config text is not valid YAML ({str(exc).splitlines()[0][:160]}); "
                          "fix it before changing options") from None
    OmegaConf.update(conf, key, value, merge=False, force_add=True)
    return OmegaConf.to_yaml(conf)


def read_config_value(text: str, key: str, default: Any = None) -> Any:
    from omegaconf import OmegaConf

    try:
        conf = OmegaConf.create(text or "{}")
        value = OmegaConf.select(conf, key, default=default)
    except Exception:  # noqa: BLE001
        return default
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


def method_catalog() -> dict[str, Any]:
    """Methods (description, shipped configs, default config), backbones and devices; imports torch (worker)."""
    from corrviz.core.backbones import get_config, list_backbones
    from corrviz.training.method import get_method, list_methods

    from .registry_info import available_devices

    methods = {}
    for name in list_methods():
        m = get_method(name)
        methods[name] = {"description": m.description, "presets": [str(p) for p in m.configs()],
                         "defaults": m.default_config()}
    backbones = {n: get_config(n).family for n in list_backbones(include_test=True)}
    return {"methods": methods, "backbones": backbones, "devices": available_devices()}


def check_config(method: str, config_file: str | None, overrides: list[str], resume: str | None) -> dict[str, Any]:
    """:func:`corrviz.training.trainer.prepare` (every bad input raises there); a summary of the resolved config."""
    from corrviz.training.trainer import prepare

    _, cfg, _ = prepare(method, config_file, overrides, resume)
    t = cfg.train
    model = cfg.get("model", {})
    return {"steps": int(t.steps), "device": str(t.device), "backbone": str(model.get("backbone", "?")),
            "out_dir": str(cfg.run.out_dir), "eval_every": int(t.eval_every)}


def run_name(method: str) -> str:
    return f"{method}-{_dt.datetime.now(_dt.UTC).strftime('%Y%m%d-%H%M%S')}"


class TrainingController:
    """Training panel <-> session, settings and the training child process (see the module docstring)."""

    def __init__(self, ctx: Any, view: Any, on_checkpoint: Callable[[Path, RunInfo], None] | None = None,
                 on_compare: Callable[[RunInfo], None] | None = None,
                 launch: Callable[[list[str], Path], TrainProcess] = TrainProcess) -> None:
        self.ctx, self.view = ctx, view
        self.on_checkpoint, self.on_compare = on_checkpoint, on_compare
        self.launch = launch
        self.catalog: dict[str, Any] | None = None
        self.method: str | None = None
        self.process: TrainProcess | None = None
        self.run_dir: Path | None = None
        self.total_steps = 0
        self.series = RunSeries()
        self.tail: MetricsTail | None = None
        self.finished: list[tuple[Path, str]] = []  # (run folder, status) of runs this panel ran
        self.on_catalog: Callable[[dict[str, Any]], None] | None = None  # e.g. the compare view's backbone lists
        self.timer: Any = None
        self.loading_started = False
        v = view
        v.sigMethodChanged.connect(self.select_method)
        v.sigPresetChanged.connect(self.select_preset)
        v.sigBackboneChanged.connect(lambda name: self.set_value("model.backbone", name))
        v.sigDeviceChanged.connect(lambda dev: self.set_value("train.device", dev))
        v.sigDataChanged.connect(self.set_data)
        v.sigCheck.connect(self.check)
        v.sigStart.connect(self.start)
        v.sigCancel.connect(self.cancel)
        v.sigResume.connect(self.resume)
        v.sigRefreshRuns.connect(self.refresh_runs)
        v.sigRunSelected.connect(self.select_run)
        v.sigCompareRun.connect(self.compare_run)
        v.sigUseCheckpoint.connect(self.use_checkpoint)
        v.sigRunsFolderChanged.connect(self.set_runs_folder)
        v.set_runs_folder(self.runs_folder())

    # -- settings -----------------------------------------------------------------------------------
    def runs_folder(self) -> str:
        default = str(Path.home() / "corrviz-runs")
        return str(self.ctx.settings.value("training/runs_folder", default) or default)

    def set_runs_folder(self, folder: str) -> None:
        s = self.ctx.settings
        (s.set_value if hasattr(s, "set_value") else s.setValue)("training/runs_folder", str(folder))
        self.view.set_runs_folder(str(folder))
        self.refresh_runs()

    # -- methods and the config text ----------------------------------------------------------------
    def load(self) -> None:
        """List methods, backbones and devices in a worker (importing the trainer loads torch)."""
        self.loading_started = True
        self.ctx.runner.submit("train_catalog", lambda _p: method_catalog(), on_result=self._on_catalog,
                               on_error=lambda e: self.ctx.report_error(e, "Training methods"))
        self.refresh_runs()

    def _on_catalog(self, catalog: dict[str, Any], _seconds: float = 0.0) -> None:
        self.catalog = catalog
        methods = catalog["methods"]
        self.view.set_methods([(n, m["description"]) for n, m in methods.items()])
        self.view.set_devices(catalog["devices"])
        if self.on_catalog is not None:
            self.on_catalog(catalog)
        if methods:
            self.select_method(next(iter(methods)))

    def select_method(self, name: str) -> None:
        if self.catalog is None or name not in self.catalog["methods"]:
            return
        self.method = name
        m = self.catalog["methods"][name]
        self.view.show_method(name)
        self.view.set_presets([(DEFAULT_PRESET, None)] + [(Path(p).name, p) for p in m["presets"]])
        family = self._family(m["defaults"])
        self.view.set_backbones([n for n, f in self.catalog["backbones"].items() if family is None or f == family])
        self.select_preset(None)

    def _family(self, defaults: dict[str, Any]) -> str | None:
        name = defaults.get("model", {}).get("backbone")
        return self.catalog["backbones"].get(name) if self.catalog and name else None

    def select_preset(self, path: str | None) -> None:
        """Fill the editor with the resolved config of the method's defaults (+ a shipped experiment file)."""
        from corrviz.training.config import compose, to_dict, to_yaml

        if self.method is None:
            return
        try:
            cfg = compose(self.method, self.catalog["methods"][self.method]["defaults"], path or None)
        except CorrvizError as exc:
            self.view.set_message(str(exc), ok=False)
            return
        text = to_yaml(cfg)
        self.view.show_preset(path or None)
        self.view.set_config_text(text)
        data = to_dict(cfg).get("data", {})
        self.view.set_data_choices(data_choices(self.method, data if isinstance(data, dict) else {}),
                                   data.get("objects", []) if isinstance(data, dict) else [])
        self.view.show_backbone(str(read_config_value(text, "model.backbone", "")))
        self.view.show_device(str(read_config_value(text, "train.device", "cpu")))
        self.view.set_message(f"{self.method}: {Path(path).name if path else 'method defaults'} loaded; edit the "
                              "YAML or the fields above, then Check or Start.", ok=True)

    def set_value(self, key: str, value: Any) -> bool:
        """Set one key of the editor's YAML (backbone, device, data); errors go to the panel's message line."""
        if self.method is None:
            return False
        try:
            self.view.set_config_text(set_config_value(self.view.config_text(), key, value))
        except CorrvizError as exc:
            self.view.set_message(str(exc), ok=False)
            return False
        return True

    def set_data(self, kind: str, value: Any) -> None:
        """The data choice: ``default`` restores the config's own section, the others set their key."""
        key = dict((k, key) for k, _, key in DATA_KINDS).get(kind)
        if kind == "default":
            defaults = (self.catalog or {}).get("methods", {}).get(self.method or "", {}).get("defaults", {})
            data = defaults.get("data", {})
            for k in ("objects", "root"):
                if k in data:
                    self.set_value(f"data.{k}", data[k])
            return
        if key is None:
            return
        if kind == "categories":
            self.set_value("data.root", "")  # a dataset folder would take precedence over the category list
            self.set_value("data.objects", [str(v) for v in value])
        else:
            self.set_value(f"data.{key}", str(value))

    # -- checking and starting ----------------------------------------------------------------------
    def _config_file(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / PANEL_CONFIG
        path.write_text(self.view.config_text())
        return path

    def _run_overrides(self, name: str) -> list[str]:
        return [f"run.out_dir={Path(self.runs_folder()).resolve()}", f"run.name={name}"]

    def check(self, then: Callable[[dict[str, Any]], None] | None = None, folder: Path | None = None) -> None:
        """Validate the editor's config in a worker; the message line says what is wrong, or a summary."""
        if self.method is None:
            self.view.set_message("no training method loaded yet", ok=False)
            return
        import tempfile

        method = self.method
        name = folder.name if folder is not None else "check"
        cfg_file = self._config_file(folder if folder is not None else Path(tempfile.mkdtemp(prefix="corrviz_cfg_")))
        overrides = self._run_overrides(name)
        self.view.set_message("checking the config…", ok=True)

        def ok(summary: dict[str, Any], _seconds: float = 0.0) -> None:
            self.view.set_message(f"config OK: {method}, {summary['backbone']} on {summary['device']}, "
                                  f"{summary['steps']} steps", ok=True)
            if then is not None:
                then(summary)

        def bad(exc: Exception) -> None:
            if isinstance(exc, CorrvizError):
                self.view.set_message(str(exc), ok=False)
            else:
                self.view.set_message(f"{type(exc).__name__}: {exc}", ok=False)
                self.ctx.report_error(exc, "Training config")
            if folder is not None and not (folder / "run.json").exists():
                (folder / PANEL_CONFIG).unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    folder.rmdir()

        self.ctx.runner.submit("train_check", lambda _p: check_config(method, str(cfg_file), overrides, None),
                               on_result=ok, on_error=bad)

    def start(self) -> None:
        """Check the config, then start ``corrviz-train`` on it in a child process."""
        if self.busy():
            self.view.set_message("a run is already going; cancel it first", ok=False)
            return
        if self.method is None:
            self.view.set_message("no training method loaded yet", ok=False)
            return
        method, name = self.method, run_name(self.method)
        folder = Path(self.runs_folder()).resolve() / name

        def launch(summary: dict[str, Any]) -> None:
            argv = train_command(method, folder / PANEL_CONFIG, self._run_overrides(name))
            self._launch(argv, folder, int(summary["steps"]))

        self.check(then=launch, folder=folder)

    def resume(self, folder: str, steps: int = 0) -> None:
        """Continue an earlier run from its last checkpoint (optionally to a new ``train.steps``)."""
        if self.busy():
            self.view.set_message("a run is already going; cancel it first", ok=False)
            return
        info = read_run_info(folder)
        if info is None:
            self.view.set_message(f"{folder}: not a corrviz-train run folder (no run.json)", ok=False)
            return
        if info.checkpoint is None:
            self.view.set_message(f"{folder}: has no last checkpoint to resume from", ok=False)
            return
        steps = int(steps or self.view.resume_steps() or 0)
        overrides = [f"train.steps={steps}"] if steps else []
        total = steps or info.total_steps
        if total <= info.step:
            self.view.set_message(f"{info.name} is at step {info.step} of {info.total_steps}: give more steps to "
                                  "resume it (Resume to steps)", ok=False)
            return

        def launch(_summary: Any = None, _seconds: float = 0.0) -> None:
            self._launch(train_command(info.method, None, overrides, resume=info.folder), info.folder, total)

        def bad(exc: Exception) -> None:
            self.view.set_message(str(exc) if isinstance(exc, CorrvizError) else f"{type(exc).__name__}: {exc}",
                                  ok=False)

        self.ctx.runner.submit("train_check", lambda _p: check_config(info.method, None, overrides, str(info.folder)),
                               on_result=launch, on_error=bad)

    def _launch(self, argv: list[str], folder: Path, total: int) -> None:
        try:
            self.process = self.launch(argv, folder)
        except OSError as exc:
            self.view.set_message(f"cannot start corrviz-train: {exc}", ok=False)
            return
        self.run_dir, self.total_steps = folder, total
        self.series = RunSeries()
        self.tail = MetricsTail(folder / "metrics.jsonl")
        self.view.set_running(True)
        self.view.show_series(self.series)
        self.view.set_progress_text(f"starting {folder.name} (loading the backbone and rendering the data)…")
        self.view.set_message(f"running: {folder}", ok=True)
        self.ctx.show_status(f"Training {folder.name}…")

    def busy(self) -> bool:
        return self.process is not None and self.process.running

    # -- following the run --------------------------------------------------------------------------
    def poll(self) -> None:
        """Timer tick: new metrics lines to the plots; a run that has ended is finished off."""
        if self.process is None or self.tail is None:
            return
        rows = self.tail.poll()
        if self.tail.was_reset:
            self.series.clear()
        if rows or self.tail.was_reset:
            self.series.add(rows)
            self.view.show_series(self.series)
            self.view.set_progress_text(progress_text(self.series, self.total_steps))
        code = self.process.poll()
        if code is not None:
            self.series.add(self.tail.poll())
            self.view.show_series(self.series)
            self._finish(code)

    def cancel(self) -> None:
        if not self.busy():
            return
        again = self.process.cancel_requested
        self.process.cancel()
        self.view.set_message("killed" if again else "stopping after the current step and saving the last "
                              "checkpoint… (Cancel again to kill)", ok=not again)

    def _finish(self, code: int) -> None:
        proc, folder = self.process, self.run_dir
        self.process = None
        self.view.set_running(False)
        status, step = run_status(folder)
        info = read_run_info(folder)
        ck = info.checkpoint if info is not None else None
        if status in ("finished", "cancelled"):
            self.finished.append((folder, status))
            text = f"{status} at step {step}" + (f"; last checkpoint {ck}" if ck else "")
            self.view.set_message(text, ok=True)
            self.view.set_progress_text(progress_text(self.series, self.total_steps) + f" · {status}")
        else:
            why = "killed" if proc.killed else f"exit code {code}"
            tail = proc.log_tail(6)
            self.view.set_message(f"corrviz-train stopped ({why}) before it finished"
                                  + (f"; the last checkpoint is kept: {ck}" if ck else "; no checkpoint was written")
                                  + (f"\n{tail}" if tail else ""), ok=False)
        self.ctx.show_status(f"Training {folder.name}: {status if status != 'running or stopped' else 'stopped'}")
        self.refresh_runs()
        if info is not None and ck is not None:
            if self.on_checkpoint is not None:
                self.on_checkpoint(ck, info)
            if self.on_compare is not None and status in ("finished", "cancelled"):
                self.on_compare(info)

    # -- past runs ----------------------------------------------------------------------------------
    def refresh_runs(self) -> None:
        self.view.set_runs(list_runs(self.runs_folder()))

    def select_run(self, folder: str) -> None:
        info = read_run_info(folder)
        if info is None:
            return
        self.view.show_run_details(info)
        if not self.busy() or Path(folder) != self.run_dir:
            past = RunSeries()
            past.add(MetricsTail(Path(folder) / "metrics.jsonl").poll())
            self.view.show_series(past)
            self.view.set_progress_text(progress_text(past, info.total_steps) + f" · {info.status}")

    def use_checkpoint(self, folder: str) -> None:
        info = read_run_info(folder)
        if info is None or info.checkpoint is None:
            self.view.set_message(f"{folder}: no checkpoint in this run", ok=False)
            return
        if self.on_checkpoint is not None:
            self.on_checkpoint(info.checkpoint, info)

    def compare_run(self, folder: str) -> None:
        info = read_run_info(folder)
        if info is None or info.checkpoint is None:
            self.view.set_message(f"{folder}: no checkpoint to compare with the base backbone", ok=False)
            return
        if self.on_compare is not None:
            self.on_compare(info)

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """App closing: cancel a running run cleanly (its last checkpoint is written), kill it if it hangs."""
        if self.process is None:
            return
        if self.process.running:
            self.process.cancel()
            if self.process.wait(timeout_s) is None:
                self.process.kill()
                self.process.wait(5)
        self.process = None


def attach_training(controller: Any, ctx: Any = None) -> tuple[TrainingController, Any]:
    """Build the training and compare controllers on the main window's Training and Compare tabs.

    A finished (or cancelled) run's checkpoint goes into the checkpoint picker and the before/after
    comparison opens on the Compare tab. The metrics log is polled every ``POLL_MS``.
    """
    from PyQt6.QtCore import QTimer

    from .controller_compare import CompareController
    from .demo import demo_images

    ctx = ctx or controller.ctx
    w = controller.window
    compare = CompareController(ctx, w.compare_view, demo=demo_images)

    def on_checkpoint(path: Path, info: RunInfo) -> None:
        controller.checkpoints.add_trained_checkpoint(str(path), f"{info.name} step {info.step} ({info.method})")

    def on_compare(info: RunInfo) -> None:
        compare.open_before_after(info, controller.session.options)
        w.tabs.setCurrentWidget(w.compare_view)

    def ask_side_checkpoint(side: int) -> None:
        path = controller.checkpoints.ask_file(f"Checkpoint for side {'AB'[side]}")
        if path:
            compare.set_side_checkpoint(side, path)

    w.compare_view.sigSideCheckpoint.connect(ask_side_checkpoint)
    training = TrainingController(ctx, w.training_panel, on_checkpoint, on_compare)
    training.on_catalog = lambda catalog: w.compare_view.set_backbones(list(catalog["backbones"]))

    def on_tab(_index: int) -> None:
        if w.tabs.currentWidget() is w.training_panel and not training.loading_started:
            training.load()  # on first view: importing the trainer and its methods costs seconds
        if w.tabs.currentWidget() is w.compare_view and not compare.images:
            compare.use_session_pair()

    w.tabs.currentChanged.connect(on_tab)
    timer = QTimer(controller)
    timer.setInterval(POLL_MS)
    timer.timeout.connect(training.poll)
    timer.start()
    training.timer = timer
    return training, compare
