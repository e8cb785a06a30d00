"""The command line as a user and Snakemake's jobs meet it: --version, exit statuses, one-line errors for missing
inputs with nothing created, -v/-q, and progress lines in the logs of training and evaluate jobs."""

from __future__ import annotations

import fcntl
import logging
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
import yaml

import ganbench
from conftest import REPO, env_with_venv
from ganbench.progress import MIN_FRACTION, SECONDS_ENV, Progress

TINY = str(REPO / "tests/configs/tiny.yaml")
# a progress line's message; in a job's log it follows "<date> <time> INFO ganbench.progress: "
PROGRESS_RE = re.compile(r"step (\d+)/(\d+) \((\d+)%\) \| loss_d \S+ loss_g \S+ \| (\d+) images/s \| "
                         r"[\d:]+ elapsed, ETA [\d:]+$")


def ganbench_cmd(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 600,
                 **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganbench", *args], cwd=cwd, capture_output=True, text=True,
                          env={**env_with_venv(), **(env or {})}, timeout=timeout, **kwargs)


def ring8_config(tmp_path: Path, steps: int) -> Path:
    cfg = {"seeds": [0, 1], "datasets": {"ring8": {"n_train": 4000, "n_test": 1000}},
           "defaults": {"architecture": {"name": "mlp", "hidden": 32}, "steps": steps, "log_every": 10,
                        "checkpoint_every": 10**6, "snapshots": 1},
           "variants": [{"name": "ns"}], "evaluation": {"num_samples": 500}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def cli_in_process(args: list[str], cwd: Path, capsys, monkeypatch) -> tuple[int, str, str]:
    """ganbench.cli.main as the `ganbench` command runs it (exit status, stdout, stderr), without the start-up of a
    new interpreter; the tests below that spawn `python -m ganbench` check that a process behaves the same."""
    from ganbench.cli import main

    monkeypatch.chdir(cwd)
    capsys.readouterr()
    try:
        code = main(args)
    except SystemExit as exc:  # argparse: usage errors and --version
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_exits_0_1_2_with_version_runtime_and_usage_errors(tmp_path):
    proc = ganbench_cmd("--version", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"ganbench {ganbench.__version__}"
    proc = ganbench_cmd("report", "--config", TINY, "--metrics", "results/metrics.csv", "--out-dir", "results/report",
                        cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr == (
        "ganbench report: error: results/metrics.csv: no such file or folder (--metrics)\n")
    proc = ganbench_cmd("report", "--config", TINY, "--out-dir", "results/report", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("usage: ganbench report")
    assert "error: the following arguments are required: --metrics" in proc.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args, message", [
    ([], "the following arguments are required: COMMAND"),
    (["no-such-command"], "invalid choice: 'no-such-command'"),
    (["report", "--config", TINY], "the following arguments are required: --metrics, --out-dir"),
    (["train", "--config", TINY, "--dataset", "ring8", "--variant", "ns", "--seed", "x", "--data", "d",
      "--out-dir", "o"], "argument --seed: invalid int value: 'x'"),
])
def test_usage_errors_exit_2(tmp_path, capsys, monkeypatch, args, message):
    code, _, err = cli_in_process(args, tmp_path, capsys, monkeypatch)
    assert code == 2, err
    assert err.startswith("usage: ganbench") and message in err
    assert not list(tmp_path.iterdir())


def test_runtime_error_exits_1_with_one_line(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**yaml.safe_load(Path(TINY).read_text()), "seeds": "zero"}))
    code, _, err = cli_in_process(["check", "--config", str(bad)], tmp_path, capsys, monkeypatch)
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganbench check: error: ") and "seeds" in lines[0], err


@pytest.mark.parametrize("args, missing", [
    (["report", "--config", TINY, "--metrics", "results/metrics.csv", "--out-dir", "results/report"],
     "results/metrics.csv"),
    (["aggregate", "--out", "results/metrics.csv", "results/runs/a/metrics.json"], "results/runs/a/metrics.json"),
    (["train", "--config", TINY, "--dataset", "ring8", "--variant", "minimax", "--seed", "0",
      "--data", "results/data/ring8.npz", "--out-dir", "results/runs/ring8/minimax/seed0"], "results/data/ring8.npz"),
    (["evaluate", "--config", TINY, "--run-dir", "results/runs/x", "--data", "d.npz", "--out", "m.json"],
     "results/runs/x"),
    (["real-features", "--config", TINY, "--data", "results/data/fashion_mnist.npz", "--out", "real.pt"],
     "results/data/fashion_mnist.npz"),
    (["train-classifier", "--config", TINY, "--data", "x.npz", "--out", "c.pt", "--info", "c.json"], "x.npz"),
    (["check", "--config", "nowhere.yaml"], "nowhere.yaml"),
])
def test_missing_input_is_one_line_naming_the_file_and_nothing_is_created(tmp_path, capsys, monkeypatch, args,
                                                                           missing):
    code, _, err = cli_in_process(args, tmp_path, capsys, monkeypatch)
    assert code == 1, err
    lines = err.splitlines()
    assert len(lines) == 1 and f"{missing}: no such file or folder" in lines[0], err
    assert lines[0].startswith(f"ganbench {args[0]}: error: ")
    assert not list(tmp_path.iterdir()), "nothing may be created when an input is missing"


@pytest.mark.parametrize("flags", [[], ["-v"], ["-q"], ["prepare-v"]])
def test_verbosity_controls_the_downloaders_log_lines(tmp_path, fmnist_mirror, flags):
    """-v shows ganbench's info messages (here: the downloader fetching each file), before or after the command;
    without it only warnings; -q leaves nothing on stderr."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"seeds": [0], "datasets": {"fashion_mnist": {
        "mirrors": [fmnist_mirror], "train_limit": 500, "test_limit": 100}}, "defaults": {"steps": 10},
        "variants": [{"name": "ns"}]}))
    args = ["prepare", "--config", str(cfg), "--dataset", "fashion_mnist", "--out", "f.npz", "--cache-dir", "cache"]
    if flags == ["prepare-v"]:
        args.insert(1, "-v")
    else:
        args = flags + args
    proc = ganbench_cmd(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    fetched = re.findall(r"INFO ganbench\.data\.download: fetching (\S+)", proc.stderr)
    if flags in (["-v"], ["prepare-v"]):
        assert sorted(Path(u).name for u in fetched) == sorted(
            ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz"]), proc.stderr
        assert all(u.startswith(fmnist_mirror) for u in fetched)
    else:
        assert not fetched and proc.stderr == "", proc.stderr
    assert "fashion_mnist: 500 train / 100 test" in proc.stdout


def test_training_job_without_a_terminal_logs_progress_lines(tmp_path, ring8_npz):
    """Under Snakemake stderr is a log file: training writes plain progress lines there (step/total, losses,
    images/s, ETA), at most one per MIN_FRACTION of the steps (here, with no minimum interval, exactly that)."""
    cfg = ring8_config(tmp_path, steps=400)
    args = ["train", "--config", str(cfg), "--dataset", "ring8", "--variant", "ns", "--seed", "0",
            "--data", str(ring8_npz), "--threads", "1", "--out-dir"]
    proc = ganbench_cmd(*args, "run-a", cwd=tmp_path, env={SECONDS_ENV: "0"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert "INFO ganbench.progress: step 0/400: starting" in lines[0]
    matches = [PROGRESS_RE.search(line) for line in lines[1:]]
    assert all(matches) and all(" INFO ganbench.progress: step " in line for line in lines), proc.stderr
    every = round(MIN_FRACTION * 400)
    assert [int(m.group(1)) for m in matches] == list(range(every, 401, every))
    assert all(int(m.group(4)) > 0 for m in matches)
    assert len(lines) <= 1 / MIN_FRACTION + 2

    # the default minimum interval (10 s) thins the lines of a short run out to the start and the end
    proc = ganbench_cmd(*args, "run-b", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    steps = [int(m.group(1)) for m in map(PROGRESS_RE.search, proc.stderr.splitlines()) if m]
    assert steps[-1] == 400 and len(steps) <= 1 / MIN_FRACTION

    proc = ganbench_cmd("-q", *args, "run-c", cwd=tmp_path, env={SECONDS_ENV: "0"})
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_training_on_a_terminal_shows_a_bar_not_log_lines(tmp_path, ring8_npz):
    cfg = ring8_config(tmp_path, steps=200)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a terminal's size: 120 columns
    proc = subprocess.Popen([sys.executable, "-m", "ganbench", "train", "--config", str(cfg), "--dataset", "ring8",
                             "--variant", "ns", "--seed", "0", "--data", str(ring8_npz), "--out-dir", "run",
                             "--threads", "1"], cwd=tmp_path, env={**env_with_venv(), SECONDS_ENV: "0"},
                            stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=600) == 0
    screen = b"".join(chunks).decode(errors="replace")
    assert re.search(r"\d+/200 \[", screen) and "step/s" in screen, screen[-2000:]
    assert "loss_d=" in screen  # the window's losses as the bar's postfix
    assert "ganbench.progress" not in screen


def test_progress_lines_are_as_rare_as_the_fraction_and_the_interval_demand(caplog):
    """Lines need MIN_FRACTION of the steps *and* min_seconds since the previous one (a clock under the test's
    control stands in for time)."""
    now = [0.0]

    def run(total: int, seconds_per_window: float, done: int = 0) -> list[int]:
        caplog.clear()
        progress = Progress(total, done, 64, tty=False, min_seconds=10, clock=lambda: now[0])
        for step in range(done + 10, total + 1, 10):
            now[0] += seconds_per_window
            progress.update(step, {"loss_d": 1.0, "loss_g": 2.0, "d_real": 0.5})
        progress.close()
        return [int(m.group(1)) for m in map(PROGRESS_RE.search, caplog.messages) if m]

    with caplog.at_level(logging.INFO, logger="ganbench.progress"):
        assert run(1000, 0.5) == list(range(200, 1001, 200))  # 10 s pass every 200 steps: time decides
        assert run(1000, 5.0) == list(range(50, 1001, 50))  # 5 % of the steps take 25 s: the fraction decides
        assert run(1000, 0.01) == [1000]  # a fast run: only its end
        assert run(1000, 5.0, done=600) == list(range(650, 1001, 50))
        assert "step 600/1000: resuming from a checkpoint" in caplog.messages[0]
        line = caplog.messages[-1]
        assert "loss_d 1 loss_g 2 |" in line and "d_real" not in line
        assert "128 images/s" in line and "ETA 0:00" in line  # 50 steps × 64 images in 25 s


def test_evaluate_job_logs_a_line_per_run(tmp_path, ring8_npz):
    from ganbench.config import Config
    from ganbench.train.run import train_run

    cfg = ring8_config(tmp_path, steps=30)
    config = Config.load(cfg)
    for seed in (0, 1):
        train_run(config.settings("ns"), ring8_npz, tmp_path / f"seed{seed}", seed, threads=1, progress=False)
    proc = ganbench_cmd("evaluate", "--config", str(cfg), "--run-dir", "seed0", "seed1", "--data", str(ring8_npz),
                        "--out", "m0.json", "m1.json", "--dataset", "ring8", "--variant", "ns", "--seed", "0", "1",
                        "--threads", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = re.findall(r"INFO ganbench\.progress: evaluated run (\d)/2: (\S+) \(ok\) in [\d.]+ s", proc.stderr)
    assert lines == [("1", "seed0"), ("2", "seed1")], proc.stderr
