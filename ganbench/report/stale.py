"""Marking a report as out of date when a new run of the benchmark starts.

The Snakefile's ``onstart`` handler calls ``mark_stale`` when the report is among the jobs Snakemake is about to
run: the old ``index.html`` gets a banner at the top saying that it shows an earlier state of the results. The new
report replaces the page when the run gets that far; a run that stops before (a crash, ``kill``, a cluster's time
limit) leaves the banner, so an old report never passes for the new one.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

from ganbench.io import write_text

MARKER = "<!-- ganbench:stale-banner -->"


def banner(started: str) -> str:
    return ('<div class="stale" role="alert" data-stale="true"><b>Out of date.</b> A new run of this benchmark '
            f"started at {html.escape(started)}, after this report was built. This page shows the results as they were "
            "before it; it is replaced when that run builds its report. If this banner stays, that run stopped "
            "before the report (see results/logs/ and Snakemake's log).</div>")


def mark_stale(report_dir: str | Path, started: dt.datetime | None = None) -> bool:
    """Put the out-of-date banner into ``report_dir/index.html`` (atomically); False when there is no report or it
    carries no banner slot (then it is left alone)."""
    index = Path(report_dir) / "index.html"
    if not index.is_file():
        return False
    page = index.read_text()
    if MARKER not in page:
        return False
    started = started or dt.datetime.now(dt.timezone.utc)
    write_text(index, page.replace(MARKER, MARKER + banner(started.strftime("%Y-%m-%d %H:%M UTC")), 1))
    return True


def is_stale(report_dir: str | Path) -> bool:
    index = Path(report_dir) / "index.html"
    return index.is_file() and 'data-stale="true"' in index.read_text()
