"""The statistics behind each table cell: mean ± std over seeds, a bootstrap CI, and a test against the baseline.

Only runs with status "ok" enter the numbers; diverged or failed runs are counted and shown, never averaged in.
The test against the baseline row is Welch's unequal-variance t-test (two-sided): with the 3–10 seeds benchmarks
can afford, the Mann–Whitney U test cannot reach p < 0.05 below 4 seeds per group, Welch's test can.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass
class Cell:
    n: int
    failed: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    p_value: float | None = None

    @property
    def total(self) -> int:
        return self.n + self.failed


def bootstrap_ci(values: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean."""
    if len(values) == 0:
        return math.nan, math.nan
    if len(values) == 1:
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(seed)
    means = rng.choice(values, size=(n_boot, len(values)), replace=True).mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def summarize(values, failed: int = 0, n_boot: int = 2000) -> Cell:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    mean = float(v.mean()) if len(v) else math.nan
    std = float(v.std(ddof=1)) if len(v) > 1 else (0.0 if len(v) == 1 else math.nan)
    lo, hi = bootstrap_ci(v, n_boot)
    return Cell(len(v), failed, mean, std, lo, hi)


def welch_p(a, b) -> float | None:
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return None
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # both constant: t is undefined, the answer is not
        return 1.0 if np.mean(a) == np.mean(b) else 0.0
    with warnings.catch_warnings():  # one constant group (e.g. every seed found 8 modes): its variance is exactly 0,
        # which scipy computes right but warns about ("precision loss ... nearly identical")
        warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)
