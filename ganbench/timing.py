"""What a job costs: CPU and wall seconds of the whole process, interpreter start-up and imports included.

Every ganbench command that a pipeline job runs records ``job_costs()`` in the JSON it writes last, so the report
can put the seconds spent in training steps against everything the benchmark's jobs cost (start-up, imports, data
loading, checkpoints, evaluation). CPU time is ``time.process_time()``: user + system time of every thread of this
process since it started. Wall time since the process started comes from psutil.
"""

from __future__ import annotations

import os
import time


def process_cpu_seconds() -> float:
    return time.process_time()


def process_wall_seconds() -> float | None:
    """Seconds since this process was created (None where psutil is missing)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - a dependency of ganbench (and of Snakemake)
        return None
    return max(0.0, time.time() - psutil.Process(os.getpid()).create_time())


def job_costs() -> dict[str, float | None]:
    return {"job_cpu_seconds": process_cpu_seconds(), "job_wall_seconds": process_wall_seconds()}
