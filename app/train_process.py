"""A ``corrviz-train`` run in a child process: start, poll, cancel (SIGINT), kill.

Training runs in its own process, so the GUI thread never shares the interpreter lock or the CPU
threads of torch with it, and a crash there cannot take the window down. Cancel sends SIGINT: the
trainer stops after the current step and writes its last checkpoint (:mod:`corrviz.training.trainer`);
a second cancel, or :meth:`TrainProcess.kill`, ends it at once. Its output goes to ``train.log`` in
the run folder, next to the metrics the run monitor tails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

LOG_NAME = "train.log"


def train_command(method: str, config: str | os.PathLike | None = None, overrides: Sequence[str] = (),
                  resume: str | os.PathLike | None = None) -> list[str]:
    """The argv of a ``corrviz-train`` run with this interpreter (``python -m corrviz.training.cli``)."""
    argv = [sys.executable, "-m", "corrviz.training.cli", method]
    if config is not None:
        argv += ["--config", str(config)]
    if resume is not None:
        argv += ["--resume", str(resume)]
    return argv + list(overrides)


class TrainProcess:
    """One running ``corrviz-train`` child; ``returncode`` is None while it runs."""

    def __init__(self, argv: list[str], run_dir: Path, env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.run_dir / LOG_NAME
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in poll() once the child has exited
        full_env = dict(os.environ if env is None else env)
        full_env["PYTHONUNBUFFERED"] = "1"
        # own process group: a Ctrl-C in the app's terminal does not reach it; only our cancel does
        self.proc = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT, env=full_env,
                                     start_new_session=True)
        self.cancel_requested = False
        self.killed = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        code = self.proc.poll()
        if code is not None and not self._log.closed:
            self._log.close()
        return code

    @property
    def running(self) -> bool:
        return self.poll() is None

    def cancel(self) -> None:
        """First call: SIGINT (stop after this step, save the last checkpoint). Second call: kill."""
        if not self.running:
            return
        if self.cancel_requested:
            self.kill()
            return
        self.cancel_requested = True
        self.proc.send_signal(signal.SIGINT)

    def kill(self) -> None:
        if self.running:
            self.killed = True
            self.proc.kill()

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.poll()

    def log_tail(self, lines: int = 8) -> str:
        """The last lines of the child's output (errors, the trainer's end lines)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])
