#!/usr/bin/env python
"""DAG planning time: ``snakemake -n`` on a config of >= 1000 runs (target: <= 10 s).

Writes config/config.yaml with its seed list widened to --seeds seeds (default 112: 9 (variant, dataset) pairs x
112 seeds = 1008 runs, 2023 jobs with data preparation, classifier, features, evaluation, aggregate and report) to a
temporary directory, checks the run count with ``ganbench check``, then times

    snakemake -n -s <repo>/Snakefile --directory <tmp>/wd --configfile <tmp>/config.yaml --cores 1 -q

--repeats times (best of; wall-clock and the child's CPU time, which is robust to other load on the machine), and
prints pass/fail against 10 s. --profile also runs it once under cProfile and prints the top functions.

Run:  .venv/bin/python benchmarks/dag_planning.py [--seeds 112] [--repeats 3] [--profile]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
TARGET_S = 10.0


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=112, help="seeds in the config (runs = 9 x seeds for the default)")
    p.add_argument("--base-config", default=str(REPO / "config" / "config.yaml"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--profile", action="store_true", help="also profile one dry run with cProfile")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args()

    bindir = Path(sys.executable).parent
    snakemake = str(bindir / "snakemake")
    tmp = Path(tempfile.mkdtemp(prefix="ganbench-dag-"))
    cfg = yaml.safe_load(Path(args.base_config).read_text())
    cfg["seeds"] = list(range(args.seeds))
    cfg_path = tmp / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    (tmp / "wd").mkdir()

    check = subprocess.run([sys.executable, "-m", "ganbench", "check", "--config", str(cfg_path)],
                           capture_output=True, text=True, check=True)
    runs = int(re.search(r"(\d+) runs", check.stdout).group(1))
    print(check.stdout.strip())
    cmd = [snakemake, "-n", "-s", str(REPO / "Snakefile"), "--directory", str(tmp / "wd"), "--configfile",
           str(cfg_path), "--cores", "1", "-q"]
    print("$ " + " ".join(cmd))

    # one unquiet run for the job count (not timed)
    out = subprocess.run(cmd[:-1], capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        sys.exit(f"snakemake -n failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    total = re.search(r"^total\s+(\d+)", out.stdout + out.stderr, re.M)
    jobs = int(total.group(1)) if total else -1

    walls, cpus = [], []
    for i in range(args.repeats):
        c0, t0 = child_cpu(), time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        wall, cpu = time.perf_counter() - t0, child_cpu() - c0
        if res.returncode != 0:
            sys.exit(f"snakemake -n failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
        walls.append(wall)
        cpus.append(cpu)
        print(f"  repeat {i + 1}: {wall:6.2f} s wall, {cpu:6.2f} s CPU (load average {os.getloadavg()[0]:.1f})")
    best = min(walls)
    print(f"\n{runs} runs, {jobs} jobs: snakemake -n best of {args.repeats} = {best:.2f} s wall "
          f"(best CPU {min(cpus):.2f} s) vs target {TARGET_S:.0f} s: {'PASS' if best <= TARGET_S else 'FAIL'}")

    if args.profile:
        prof = tmp / "snakemake.prof"
        subprocess.run([sys.executable, "-m", "cProfile", "-o", str(prof), snakemake, *cmd[1:]],
                       capture_output=True, text=True, cwd=REPO)
        import pstats

        print("\ncProfile of one dry run (cumulative, top 25):")
        pstats.Stats(str(prof)).sort_stats("cumulative").print_stats(25)
        print("ganbench's own share (functions under ganbench/ and workflow/, cumulative, top 12):")
        pstats.Stats(str(prof)).sort_stats("cumulative").print_stats(str(REPO) + r"/(ganbench|workflow)", 12)
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept {tmp}")


if __name__ == "__main__":
    main()
