"""Progress of a training run: a tqdm bar on a terminal, plain log lines where stderr is not one (Snakemake and
SLURM job logs, pipes).

A log line (step/total, the log window's mean losses, images/s since the previous line, elapsed time and ETA) is
written when at least ``MIN_FRACTION`` of the run's steps *and* ``min_seconds`` have passed since the previous line,
whichever is rarer; plus one when training starts or resumes and one at the last step: at most 1/MIN_FRACTION + 2
lines per run. The numbers are those of a log window that the trainer has already brought to the host (its one sync
per window), so progress adds no host sync.

The lines go to the ``ganbench.progress`` logger at INFO level; the CLI shows them unless ``-q`` is given. The
environment variable GANBENCH_PROGRESS_SECONDS sets ``min_seconds`` (default 10; 0: a line every MIN_FRACTION of
the steps). Other jobs log one line per unit of work through the same logger (``log``), e.g. each evaluated run.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from typing import Callable, Mapping

from tqdm import tqdm

from ganbench.errors import ConfigError

log = logging.getLogger(__name__)

MIN_FRACTION = 0.05
MIN_SECONDS = 10.0
SECONDS_ENV = "GANBENCH_PROGRESS_SECONDS"
SHOWN = ("loss_d", "loss_g")  # the statistics a line shows (all of them are in log.csv)


def min_seconds_from_env() -> float:
    raw = os.environ.get(SECONDS_ENV)
    if raw is None:
        return MIN_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ConfigError(f"{SECONDS_ENV}={raw!r}: expected a number of seconds >= 0")
    return value


def clock_time(seconds: float) -> str:
    """1:02:03 or 2:03."""
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}" if hours else f"{minutes}:{sec:02d}"


class Progress:
    """Shows a run going from step ``done`` to ``total``; ``update`` is called at the end of each log window."""

    def __init__(self, total: int, done: int, images_per_step: int, *, tty: bool | None = None,
                 min_seconds: float | None = None, clock: Callable[[], float] = time.perf_counter):
        self.total = total
        self.images_per_step = images_per_step
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.min_steps = max(1, math.ceil(MIN_FRACTION * total))
        self.min_seconds = min_seconds_from_env() if min_seconds is None else min_seconds
        self.clock = clock
        self.start_step = self.last_step = done
        self.start_time = self.last_time = clock()
        self.bar = tqdm(total=total, initial=done, unit="step", leave=False) if self.tty else None
        if self.bar is None:
            log.info("step %d/%d: %s", done, total, "resuming from a checkpoint" if done else "starting")

    def update(self, step: int, stats: Mapping[str, float]) -> None:
        shown = {k: stats[k] for k in SHOWN if k in stats}
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in shown.items()}, refresh=False)
            return
        now = self.clock()
        due = step - self.last_step >= self.min_steps and now - self.last_time >= self.min_seconds
        if not (due or step >= self.total):
            return
        rate = (step - self.last_step) * self.images_per_step / max(now - self.last_time, 1e-9)
        elapsed = now - self.start_time
        eta = (self.total - step) * elapsed / max(step - self.start_step, 1)
        losses = " ".join(f"{k} {v:.4g}" for k, v in shown.items())
        log.info("step %d/%d (%d%%) | %s | %.0f images/s | %s elapsed, ETA %s", step, self.total,
                 100 * step // self.total, losses, rate, clock_time(elapsed), clock_time(eta))
        self.last_step, self.last_time = step, now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
