"""Run core jobs off the GUI thread: started / progress / result / error, cancel, newest-request-wins.

A job is a plain function ``fn(progress) -> result`` (the core functions take a
:class:`~corrviz.core.progress.Progress`). :class:`TaskRunner` runs it on a pool of long-lived
*Python* threads and delivers its signals on the GUI thread.

Why not ``QThreadPool``: PyQt gives a ``QRunnable.run`` a fresh Python thread state on every call
and deletes it afterwards, while the pool thread lives on. pybind11 extensions (Open3D) cache the
thread state per OS thread, so the next job on that thread resumed a deleted thread state inside
``RaycastingScene()`` and the app segfaulted on the second mesh (issue 14). A Python thread keeps
one thread state for its whole life. Jobs are grouped in *channels* ("extract", "match",
"track", ...): submitting to a channel cancels the job already running there and, whatever order
the threads finish in, only the newest job's result is applied. A job may also hand over partial
results while it runs (:meth:`WorkerProgress.partial`, e.g. each evaluated pair), delivered to
``on_partial`` on the GUI thread.
"""

from __future__ import annotations

import itertools
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from typing import Any

from PyQt6.QtCore import QObject, Qt, pyqtSignal

from corrviz.core.errors import Cancelled
from corrviz.core.progress import Progress


class WorkerSignals(QObject):
    """Signals of one job, emitted from the worker thread (queued to the GUI thread)."""

    sigStarted = pyqtSignal(int)
    sigProgress = pyqtSignal(int, int, int, str)  # job id, done, total, message
    sigResult = pyqtSignal(int, object, float)  # job id, result, seconds
    sigError = pyqtSignal(int, object)  # job id, exception
    sigFinished = pyqtSignal(int)
    sigPartial = pyqtSignal(int, object)  # job id, a partial result


class WorkerProgress(Progress):
    """The :class:`Progress` a job gets: also forwards partial results to the GUI thread."""

    def __init__(self, job_id: int, signals: WorkerSignals) -> None:
        super().__init__(lambda d, t, m: signals.sigProgress.emit(job_id, d, t, m))
        self._job_id = job_id
        self._signals = signals

    def partial(self, value: object) -> None:
        """Hand a partial result to the job's ``on_partial`` (called from the worker thread)."""
        self._signals.sigPartial.emit(self._job_id, value)


class Worker:
    """Calls ``fn(progress)`` on a pool thread and reports through :class:`WorkerSignals`."""

    def __init__(self, job_id: int, fn: Callable[[WorkerProgress], Any], signals: WorkerSignals,
                 progress: WorkerProgress) -> None:
        self.job_id = job_id
        self.fn = fn
        self.signals = signals
        self.progress = progress

    def run(self) -> None:
        s, jid = self.signals, self.job_id
        s.sigStarted.emit(jid)
        t0 = time.perf_counter()
        try:
            self.progress.check()
            result = self.fn(self.progress)
        except BaseException as exc:  # noqa: BLE001  (reported to the GUI thread, never raised there)
            if not isinstance(exc, Exception):
                exc = RuntimeError(f"{type(exc).__name__}: {exc}")
            exc.__corrviz_traceback__ = traceback.format_exc()  # type: ignore[attr-defined]
            s.sigError.emit(jid, exc)
        else:
            s.sigResult.emit(jid, result, time.perf_counter() - t0)
        finally:
            s.sigFinished.emit(jid)


@dataclass
class Job:
    job_id: int
    channel: str
    progress: Progress
    signals: WorkerSignals
    on_result: Callable[[Any, float], None] | None = None
    on_error: Callable[[Exception], None] | None = None
    on_progress: Callable[[int, int, str], None] | None = None
    on_cancelled: Callable[[], None] | None = None
    on_partial: Callable[[Any], None] | None = None
    submitted: float = field(default_factory=time.perf_counter)
    superseded: bool = False  # cancelled because a newer job of the channel was submitted
    future: Future | None = None


class TaskRunner(QObject):
    """Runs jobs on a pool of Python threads; per channel, the newest submission wins."""

    sigBusyChanged = pyqtSignal(str, bool)  # channel, busy
    sigJobProgress = pyqtSignal(str, int, int, str)  # channel, done, total, message

    def __init__(self, parent: QObject | None = None, max_threads: int = 2) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="corrviz-job")
        self._ids = itertools.count(1)
        self._jobs: dict[int, Job] = {}  # running (not yet finished) jobs
        self._latest: dict[str, int] = {}  # channel -> newest job id

    # -- submitting and cancelling ------------------------------------------------------------------
    def submit(self, channel: str, fn: Callable[[Progress], Any],
               on_result: Callable[[Any, float], None] | None = None,
               on_error: Callable[[Exception], None] | None = None,
               on_progress: Callable[[int, int, str], None] | None = None,
               on_cancelled: Callable[[], None] | None = None,
               on_partial: Callable[[Any], None] | None = None) -> int:
        """Start ``fn(progress)`` in the pool; cancel the older job of the same channel."""
        self.cancel(channel, superseded=True)
        jid = next(self._ids)
        signals = WorkerSignals()
        progress = WorkerProgress(jid, signals)
        job = Job(jid, channel, progress, signals, on_result, on_error, on_progress, on_cancelled, on_partial)
        queued = Qt.ConnectionType.QueuedConnection
        signals.sigPartial.connect(self._on_partial, queued)
        signals.sigProgress.connect(self._on_progress, queued)
        signals.sigResult.connect(self._on_result, queued)
        signals.sigError.connect(self._on_error, queued)
        signals.sigFinished.connect(self._on_finished, queued)
        self._jobs[jid] = job
        self._latest[channel] = jid
        self.sigBusyChanged.emit(channel, True)
        job.future = self._pool.submit(Worker(jid, fn, signals, progress).run)
        return jid

    def cancel(self, channel: str, superseded: bool = False) -> bool:
        """Ask the running job(s) of ``channel`` to stop; their results will be dropped."""
        found = False
        for job in self._jobs.values():
            if job.channel == channel and not job.progress.cancelled:
                job.progress.cancel()
                job.superseded = superseded
                found = True
        self._latest.pop(channel, None)
        return found

    def cancel_all(self) -> None:
        for channel in {j.channel for j in self._jobs.values()}:
            self.cancel(channel)

    def busy(self, channel: str | None = None) -> bool:
        return any(channel is None or j.channel == channel for j in self._jobs.values())

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until every job has finished (tests and shutdown)."""
        futures = [j.future for j in list(self._jobs.values()) if j.future is not None]
        return not wait_futures(futures, timeout=max(timeout_ms, 0) / 1000.0).not_done

    def shutdown(self, timeout_ms: int = 30000) -> None:
        self.cancel_all()
        for job in list(self._jobs.values()):  # never started: drop them as if finished
            if job.future is not None and job.future.cancel():
                self._on_finished(job.job_id)
        self.wait(timeout_ms)

    # -- delivery on the GUI thread -----------------------------------------------------------------
    def _is_current(self, job: Job) -> bool:
        return self._latest.get(job.channel) == job.job_id and not job.progress.cancelled

    def _on_progress(self, jid: int, done: int, total: int, message: str) -> None:
        job = self._jobs.get(jid)
        if job is None or not self._is_current(job):
            return
        self.sigJobProgress.emit(job.channel, done, total, message)
        if job.on_progress is not None:
            job.on_progress(done, total, message)

    def _on_partial(self, jid: int, value: object) -> None:
        job = self._jobs.get(jid)
        if job is not None and self._is_current(job) and job.on_partial is not None:
            job.on_partial(value)

    def _on_result(self, jid: int, result: object, seconds: float) -> None:
        job = self._jobs.get(jid)
        if job is not None and self._is_current(job) and job.on_result is not None:
            job.on_result(result, seconds)

    def _on_error(self, jid: int, exc: object) -> None:
        job = self._jobs.get(jid)
        if job is None:
            return
        if isinstance(exc, Cancelled) or job.progress.cancelled:
            if job.on_cancelled is not None and not job.superseded:
                job.on_cancelled()
            return
        if self._is_current(job) and job.on_error is not None:
            job.on_error(exc)  # type: ignore[arg-type]

    def _on_finished(self, jid: int) -> None:
        job = self._jobs.pop(jid, None)
        if job is None:
            return
        if self._latest.get(job.channel) == jid:
            self._latest.pop(job.channel, None)
        if not self.busy(job.channel):
            self.sigBusyChanged.emit(job.channel, False)
        job.signals.deleteLater()
