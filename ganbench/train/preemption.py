"""Stopping a training job on request: SIGTERM (SLURM's time limit, preemption, ``scancel``) and SIGUSR1.

SLURM sends SIGTERM to every process of a job and SIGKILL after ``KillWait`` (30 s by default), and a job started
with ``--signal=USR1@<seconds>`` gets SIGUSR1 that long before its time limit. Inside ``stop_requests()`` either
signal only sets a flag; the training loop finishes the step in progress, writes a checkpoint of it and raises
``Preempted``. The job then exits with 128 + the signal's number (143 for SIGTERM), so Snakemake sees a failed job
(and retries it where the profile says so) and a rerun resumes from that exact step.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class Preempted(Exception):
    """Training stopped on a signal after writing a checkpoint; ``exit_code`` is what the job should exit with."""

    def __init__(self, message: str, signum: int = signal.SIGTERM):
        super().__init__(message)
        self.exit_code = 128 + int(signum)


class StopRequest:
    def __init__(self) -> None:
        self.signal: int | None = None

    @property
    def requested(self) -> bool:
        return self.signal is not None

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signal).name if self.signal is not None else "nothing"


@contextlib.contextmanager
def stop_requests() -> Iterator[StopRequest]:
    """A flag set by SIGTERM/SIGUSR1 while the block runs; the previous handlers come back afterwards. Outside the
    main thread (where Python cannot install handlers) the flag simply never rises."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum, frame):  # noqa: ARG001 - the signature signal.signal expects
        request.signal = signum

    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    try:
        yield request
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
