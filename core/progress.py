"""Progress reporting and cancellation for long jobs.

Every long job in corrviz (extraction, evaluation, training, rendering) is a plain synchronous
function that takes an optional :class:`Progress`. The command line wraps it in a tqdm bar, the
app in a worker that forwards updates to a progress bar with a cancel button. A job calls
:meth:`Progress.step` between units of work; that raises :class:`~corrviz.core.errors.Cancelled`
once :meth:`Progress.cancel` has been called, so work stops at a clean point (after the last
checkpoint or result was written).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

from .errors import Cancelled

T = TypeVar("T")
Callback = Callable[[int, int, str], None]


class Progress:
    """Thread-safe progress sink with a cancel flag.

    ``callback(done, total, message)`` is called on every update (from the worker thread).
    """

    def __init__(self, callback: Callback | None = None, total: int = 0) -> None:
        self._callback = callback
        self._cancel = threading.Event()
        self.total = total
        self.done = 0
        self.message = ""

    # -- cancellation -------------------------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancellation was requested."""
        if self._cancel.is_set():
            raise Cancelled("cancelled by the user")

    # -- reporting ----------------------------------------------------------------------
    def start(self, total: int, message: str = "") -> None:
        self.total, self.done, self.message = int(total), 0, message
        self._emit()

    def step(self, n: int = 1, message: str | None = None) -> None:
        """Advance by ``n`` units, then raise :class:`Cancelled` if asked to stop."""
        self.done += n
        if message is not None:
            self.message = message
        self._emit()
        self.check()

    def _emit(self) -> None:
        if self._callback is not None:
            self._callback(self.done, self.total, self.message)


def iterate(items: Iterable[T], progress: Progress | None, total: int | None = None,
            message: str = "") -> Iterator[T]:
    """Yield ``items`` while reporting to ``progress`` and honouring cancellation."""
    if progress is None:
        yield from items
        return
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = 0
    progress.start(total, message)
    progress.check()
    for item in items:
        yield item
        progress.step()


class TqdmProgress(Progress):
    """A :class:`Progress` for the command-line tools: a tqdm bar on a terminal, plain lines in a log.

    When ``file`` (stderr by default) is not a terminal, a bar would write one update per step (900
    lines for PF-WILLOW) into the log; instead each phase writes a few plain, tqdm-formatted lines:
    at its start, at every ``log_fraction`` of the way, and at its end.
    """

    def __init__(self, desc: str = "", disable: bool = False, file: TextIO | None = None,
                 log_fraction: float = 0.25) -> None:
        super().__init__(self._update)
        self._desc = desc
        self._disable = disable
        self._file = file
        self._bar = None
        self._log_fraction = log_fraction
        self._t0 = 0.0
        self._next_log = 0.0
        self.lines_written = 0

    @property
    def stream(self) -> TextIO:
        return self._file if self._file is not None else sys.stderr

    def _is_tty(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def _update(self, done: int, total: int, message: str) -> None:
        if self._disable:
            return
        if self._is_tty():
            self._bar_update(done, total, message)
        else:
            self._log_update(done, total, message)

    def _bar_update(self, done: int, total: int, message: str) -> None:
        from tqdm.auto import tqdm

        if self._bar is None or (total and self._bar.total != total):
            if self._bar is not None:
                self._bar.close()
            self._bar = tqdm(total=total or None, desc=message or self._desc, leave=False, file=self.stream)
        self._bar.n = done
        if message:
            self._bar.set_description(message, refresh=False)
        self._bar.refresh()

    def start(self, total: int, message: str = "") -> None:
        self._t0, self._next_log = time.perf_counter(), 0.0  # a new phase logs from its start
        super().start(total, message)

    def _log_update(self, done: int, total: int, message: str) -> None:
        from tqdm import tqdm

        fraction = done / total if total else 0.0
        if done != 0 and fraction < self._next_log:
            return
        finished = bool(total) and done >= total
        if finished or not total:
            self._next_log = float("inf")  # unknown totals log their start only
        else:
            self._next_log = (int(fraction / self._log_fraction) + 1) * self._log_fraction
        line = tqdm.format_meter(done, total or None, time.perf_counter() - self._t0,
                                 prefix=message or self._desc, ncols=0)
        print(line, file=self.stream, flush=True)
        self.lines_written += 1

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
