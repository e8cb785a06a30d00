"""Integration test: the benchmark DAG through a real (single-node, loopback) SLURM cluster.

tests/slurm/start-cluster.sh installs Debian's slurmctld/slurmd/slurm-client/munge if they are
missing (needs root and apt-get), starts munged, slurmctld and slurmd under a temporary directory
with one node that declares fake GPUs, and tests/slurm/stop-cluster.sh stops them again by PID.
The tiny config (tests/configs/tiny.yaml) then runs through the project's SLURM profile
(workflow/profiles/slurm, with the workflow/profiles/slurm-ci overlay for the test cluster's
partition and sizes; profiles/default is loaded as workflow profile, as for a user), and the
test checks that every non-local job went through sbatch, completed on the SLURM node, and that
train/evaluate got a GPU and the profile's per-rule CPUs, memory and time limit.

Without root, or without the SLURM/munge commands and apt-get to install them, the test is skipped
with a message naming what to install; under CI (CI=true) it fails instead (conftest.require).
GANBENCH_SKIP_SLURM=1 skips it on request.
"""

from __future__ import annotations

import collections
import ctypes
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
TINY_CONFIG = REPO / "tests" / "configs" / "tiny.yaml"
PROFILES = [REPO / "workflow" / "profiles" / "slurm", REPO / "workflow" / "profiles" / "slurm-ci"]
START = REPO / "tests" / "slurm" / "start-cluster.sh"
STOP = REPO / "tests" / "slurm" / "stop-cluster.sh"
VENV_BIN = Path(sys.executable).parent
SNAKEMAKE = VENV_BIN / "snakemake"
REPORT = Path("results") / "report" / "index.html"

DAEMONS = ("munged", "slurmctld", "slurmd")
SNAKEMAKE_TIMEOUT_S = 900  # `timeout` kills a run that hangs (e.g. a broken status query)

SUBMITTED_RE = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.")


@dataclass
class Cluster:
    base: Path
    env: dict[str, str]  # environment for SLURM clients and Snakemake (SLURM_CONF, srun shim)
    node: str

    def scontrol_job(self, jobid: str) -> dict[str, str]:
        out = subprocess.run(
            ["scontrol", "show", "job", "-o", jobid],
            env=self.env, capture_output=True, text=True, timeout=30, check=True,
        ).stdout
        # one line of Key=Value pairs; values of the fields used here contain no spaces
        return dict(kv.split("=", 1) for kv in out.split() if "=" in kv)


def _set_child_subreaper(on: bool) -> bool:
    """Make this process the reaper of the daemons that the start script leaves behind.

    The daemons are orphaned when start-cluster.sh exits; where PID 1 of a container does not
    reap orphans they would stay as zombies after being stopped. As subreaper, pytest reaps them.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1 if on else 0, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _reap_children() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _tail(text: str, n: int = 60) -> str:
    return "\n".join(text.splitlines()[-n:])


def _cluster_logs(base: Path) -> str:
    parts = []
    for name in ("slurmctld.log", "slurmd.log", "munged.log"):
        f = base / "log" / name
        if f.is_file():
            parts.append(f"== {f}\n{_tail(f.read_text(errors='replace'), 25)}")
    return "\n".join(parts)


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory, request) -> Cluster:
    if os.environ.get("GANBENCH_SKIP_SLURM") == "1":
        pytest.skip("GANBENCH_SKIP_SLURM=1: SLURM integration test skipped on request")
    request.getfixturevalue("slurm_available")  # skips (fails under CI) where no cluster can be started
    request.getfixturevalue("fmnist_mirror")  # the tiny config reads Fashion-MNIST from the Debian mirror
    base = tmp_path_factory.mktemp("slurm-cluster")
    script_env = {**os.environ, "GANBENCH_SLURM_BASE": str(base)}
    subreaper = _set_child_subreaper(True)
    pids: dict[str, int] = {}
    started = False
    try:
        # generous timeout: the first run on a fresh CI machine installs the packages
        proc = subprocess.run([str(START)], env=script_env, capture_output=True, text=True, timeout=900)
        for name in DAEMONS:
            pid_file = base / "run" / f"{name}.pid"
            if pid_file.is_file():
                pids[name] = int(pid_file.read_text())
        if proc.returncode != 0:
            pytest.fail(
                f"could not start the SLURM test cluster ({START.name} exited {proc.returncode}); "
                "it needs root and apt-get (set GANBENCH_SKIP_SLURM=1 to skip this test):\n"
                f"{_tail(proc.stderr, 80)}",
                pytrace=False,
            )
        started = True
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SNAKEMAKE_"))}
        env["SLURM_CONF"] = str(base / "etc" / "slurm.conf")
        # srun shim first (the jobstep plugin clears SLURM_CONF for its inner srun), then the
        # venv's bin, so jobs (sbatch --export=ALL) find the same python/snakemake/ganbench
        env["PATH"] = os.pathsep.join([str(base / "bin"), str(VENV_BIN), env.get("PATH", ""), "/usr/sbin", "/sbin"])
        slurm_conf = (base / "etc" / "slurm.conf").read_text()
        node = re.search(r"^NodeName=(\S+)", slurm_conf, re.M)
        assert node, slurm_conf
        yield Cluster(base=base, env=env, node=node.group(1))
    finally:
        stop = subprocess.run([str(STOP)], env=script_env, capture_output=True, text=True, timeout=120)
        _reap_children()
        time.sleep(0.2)
        _reap_children()
        if subreaper:
            _set_child_subreaper(False)
        left = {name: pid for name, pid in pids.items() if _running(pid)}
        if started:  # do not hide a start-up failure behind a teardown error
            assert stop.returncode == 0 and not left, (
                f"SLURM daemons still running after {STOP.name}: {left}\n{stop.stderr}"
            )


def run_workflow(cluster: Cluster, snakefile: Path, configfile: Path, workdir: Path) -> subprocess.CompletedProcess:
    """Run the workflow through the project's SLURM profile; the output also goes to workdir/snakemake.out."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = ["timeout", "-k", "30", str(SNAKEMAKE_TIMEOUT_S), str(SNAKEMAKE),
           "--snakefile", str(snakefile), "--directory", str(workdir), "--configfile", str(configfile)]
    for profile in PROFILES:
        cmd += ["--profile", str(profile)]
    # no --workflow-profile none: profiles/default (-> workflow/profiles/default) is loaded as for a user
    with open(workdir / "snakemake.out", "w") as out:
        out.write("$ " + shlex.join(cmd) + "\n")
        out.flush()
        proc = subprocess.run(cmd, cwd=workdir, env=cluster.env, stdout=out, stderr=subprocess.STDOUT,
                              timeout=SNAKEMAKE_TIMEOUT_S + 60)
    proc.stdout = (workdir / "snakemake.out").read_text(errors="replace")
    return proc


def check_slurm_run(cluster: Cluster, proc: subprocess.CompletedProcess, workdir: Path,
                    gpu_rules=("train", "evaluate")) -> dict[str, list[dict[str, str]]]:
    """Assert a successful run whose jobs all went through sbatch and ran on the SLURM node.

    Returns the `scontrol show job` records per rule.
    """
    logs = sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"))
    log_text = proc.stdout + "".join(f.read_text(errors="replace") for f in logs)

    def context() -> str:
        # the logs named in Snakemake's "Error in rule" blocks: the rule's own log, the SLURM log
        failed_logs = []
        for m in re.finditer(r"^\s+log: (.+?) \(check log file", proc.stdout, re.M):
            failed_logs += [workdir / p for p in m.group(1).split(", ")]
        extra = "".join(
            f"\n== {f}\n{_tail(f.read_text(errors='replace'), 30)}"
            for f in dict.fromkeys(failed_logs[:6]) if f.is_file()
        )
        return f"\n--- snakemake output (tail) ---\n{_tail(proc.stdout, 80)}{extra}\n{_cluster_logs(cluster.base)}"

    assert proc.returncode == 0, f"snakemake exited {proc.returncode} (124/137: timed out)" + context()
    assert (workdir / REPORT).is_file(), f"no {REPORT} under {workdir}" + context()

    submitted = SUBMITTED_RE.findall(log_text)
    assert submitted, "no 'submitted with SLURM jobid' lines in Snakemake's log: were the jobs run locally?" + context()
    jobs_by_rule: dict[str, list[dict[str, str]]] = {}
    for _sm_jobid, slurm_jobid, slurm_log in dict.fromkeys(submitted):
        job = cluster.scontrol_job(slurm_jobid)
        # --comment is rule_<rule> or rule_<rule>_wildcards_<values>
        m = re.fullmatch(r"rule_(.+?)(?:_wildcards_.*)?", job.get("Comment", ""))
        assert m, f"SLURM job {slurm_jobid} has no Snakemake rule comment: {job}"
        rule = m.group(1)
        assert job["JobState"] == "COMPLETED", f"SLURM job {slurm_jobid} ({rule}): {job}"
        assert job["NodeList"] == cluster.node, f"SLURM job {slurm_jobid} ({rule}) ran on {job['NodeList']}"
        assert job["Partition"] == "debug", job
        assert Path(slurm_log).is_file(), f"SLURM log {slurm_log} of job {slurm_jobid} ({rule}) is missing"
        jobs_by_rule.setdefault(rule, []).append(job)

    # every job the main Snakemake process ran as "rule X:" (not "localrule X:") was a SLURM job
    remote_jobs = collections.Counter(re.findall(r"^rule (\w+):$", proc.stdout, re.M))
    assert remote_jobs == collections.Counter({r: len(j) for r, j in jobs_by_rule.items()}), (
        f"Snakemake jobs {dict(remote_jobs)} != SLURM jobs { {r: len(j) for r, j in jobs_by_rule.items()} }"
    )
    for rule in gpu_rules:
        assert jobs_by_rule.get(rule), (
            f"no SLURM job for rule {rule!r}; SLURM jobs per rule: "
            f"{ {r: len(j) for r, j in jobs_by_rule.items()} }" + context()
        )
        wanted = profile_resources(rule)
        for job in jobs_by_rule[rule]:
            # resources gpu=1 -> sbatch --gpus=1, granted from the node's fake GPU
            gres = job.get("TresPerJob", "") + job.get("TresPerNode", "")
            assert re.search(rf"gpu[:=]{wanted['gpu']}\b", gres), f"{rule} job {job['JobId']} did not get a GPU: {job}"
            # the profile's per-rule resources reached sbatch (not replaced by another profile)
            assert re.search(rf"gpu[:=]{wanted['cpus_per_gpu']}\b", job.get("CpusPerTres", "")), job
            assert _mb(job["MinMemoryNode"]) == wanted["mem_mb"], job
            assert _minutes(job["TimeLimit"]) == wanted["runtime"], job
    return jobs_by_rule


def profile_resources(rule: str) -> dict:
    """The set-resources of `rule` in the last profile that sets them."""
    for profile in reversed(PROFILES):
        conf = yaml.safe_load((profile / "config.yaml").read_text())
        if rule in (conf.get("set-resources") or {}):
            return conf["set-resources"][rule]
    raise AssertionError(f"no set-resources for {rule} in {PROFILES}")


def _mb(value: str) -> int:  # scontrol's 1000M / 2G / 1T
    return int(float(value[:-1]) * {"M": 1, "G": 1024, "T": 1024**2}[value[-1]])


def _minutes(value: str) -> int:  # scontrol's [D-]HH:MM:SS
    days, _, hms = value.rpartition("-")
    h, m, sec = (int(x) for x in hms.split(":"))
    return (int(days or 0) * 24 + h) * 60 + m + (sec > 0)


@pytest.mark.slurm
def test_tiny_benchmark_through_slurm(slurm_cluster: Cluster, tmp_path: Path) -> None:
    assert SNAKEFILE.is_file(), f"{SNAKEFILE} is missing"
    assert TINY_CONFIG.is_file(), f"{TINY_CONFIG} is missing"
    workdir = tmp_path / "work"
    proc = run_workflow(slurm_cluster, SNAKEFILE, TINY_CONFIG, workdir)
    jobs = check_slurm_run(slurm_cluster, proc, workdir)
    seeds = len(yaml.safe_load(TINY_CONFIG.read_text())["seeds"])  # one evaluate job per (dataset, variant)
    assert len(jobs["evaluate"]) * seeds == len(jobs["train"]), {r: len(j) for r, j in jobs.items()}
