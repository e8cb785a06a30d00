"""Training: determinism, exact resume after kill -9, divergence recorded not fatal, safe checkpoints."""

from __future__ import annotations

import math
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from conftest import env_with_venv
from ganbench.config import SETTINGS_DEFAULTS, merge
from ganbench.errors import CheckpointError
from ganbench.train import checkpoint
from ganbench.train.run import train_run

SETTINGS = merge(SETTINGS_DEFAULTS, {"architecture": {"name": "mlp", "hidden": 64}, "steps": 120,
                                     "checkpoint_every": 40, "log_every": 10, "snapshots": 2})
LOSS_COLUMNS = ["step", "loss_d", "loss_g", "d_real", "d_fake", "critic_gap", "penalty"]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "generator.pt", weights_only=True)


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_same_seed_gives_identical_weights_and_other_seed_does_not(ring8_npz, tmp_path):
    for name, seed in [("a", 3), ("b", 3), ("c", 4)]:
        train_run(SETTINGS, ring8_npz, tmp_path / name, seed, threads=1)
    assert_same_weights(tmp_path / "a", tmp_path / "b")
    wa, wc = weights(tmp_path / "a"), weights(tmp_path / "c")
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)
    la, lb = pd.read_csv(tmp_path / "a/log.csv"), pd.read_csv(tmp_path / "b/log.csv")
    pd.testing.assert_frame_equal(la[LOSS_COLUMNS], lb[LOSS_COLUMNS])


def test_outputs_of_a_run(ring8_npz, tmp_path):
    result = train_run(SETTINGS, ring8_npz, tmp_path / "run", 0, threads=1)
    run = tmp_path / "run"
    assert result["status"] == "ok" and result["steps"] == 120 and result["images_per_second"] > 0
    for name in ("train.json", "generator.pt", "samples.png", "log.csv"):
        assert (run / name).stat().st_size > 0, name
    log = pd.read_csv(run / "log.csv")
    assert log["step"].tolist() == list(range(10, 121, 10))
    assert sorted(p.name for p in (run / "snapshots").iterdir()) == ["step00000060.pt", "step00000120.pt"]
    assert not list(run.rglob(".tmp-*")), "a temp file was left behind"


def test_log_of_an_older_run_stays_readable_after_a_new_column(ring8_npz, tmp_path):
    """log.csv gained trick statistics (``replay_age``); a run whose log was written without that column resumes,
    and the log reads back with the old rows empty in the new column."""
    from ganbench.train.gan import STAT_NAMES

    assert "replay_age" in STAT_NAMES
    run, settings = tmp_path / "run", merge(SETTINGS, {"steps": 60, "checkpoint_every": 20})
    train_run(settings, ring8_npz, run, 0, threads=1)
    (run / "ckpt/step00000060.pt").unlink()  # as if stopped after step 40, before a log with the new column
    old = pd.read_csv(run / "log.csv")
    old = old[old["step"] <= 40].drop(columns=[c for c in STAT_NAMES if c not in LOSS_COLUMNS])
    old.to_csv(run / "log.csv", index=False)
    result = train_run(settings, ring8_npz, run, 0, threads=1)
    assert result["status"] == "ok" and result["resumed_from"] == 40
    log = pd.read_csv(run / "log.csv")
    assert log["step"].tolist() == list(range(10, 61, 10))
    assert log.loc[log["step"] <= 40, "replay_age"].isna().all()
    assert (log.loc[log["step"] > 40, "replay_age"] == 0.0).all()  # no experience replay in this run
    assert log[LOSS_COLUMNS].notna().all().all()


def _cli_config(tmp_path: Path, steps: int) -> Path:
    cfg = {
        "seeds": [0],
        "datasets": {"ring8": {"n_train": 4000, "n_test": 1000}},
        "defaults": {**{k: v for k, v in SETTINGS.items() if k not in ("tricks",)}, "steps": steps,
                     "checkpoint_every": 25, "log_every": 5},
        "variants": [{"name": "ns"}],
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _train_cmd(cfg: Path, data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "ganbench", "train", "--config", str(cfg), "--dataset", "ring8", "--variant", "ns",
            "--seed", "7", "--data", str(data), "--out-dir", str(out), "--threads", "1"]


def test_kill_9_then_rerun_resumes_bitwise_identically(ring8_npz, tmp_path):
    cfg = _cli_config(tmp_path, steps=2500)
    subprocess.run(_train_cmd(cfg, ring8_npz, tmp_path / "straight"), check=True, env=env_with_venv(), timeout=600)

    out = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(cfg, ring8_npz, out), env=env_with_venv())
    deadline = time.time() + 300
    # wait for a checkpoint, then kill at an arbitrary moment between checkpoints
    while not list((out / "ckpt").glob("step*.pt")) if (out / "ckpt").exists() else True:
        assert proc.poll() is None, "training finished before it could be interrupted"
        assert time.time() < deadline
        time.sleep(0.02)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "train.json").exists(), "an interrupted run must not look complete"
    done_before = max(int(p.stem[4:]) for p in (out / "ckpt").glob("step*.pt"))
    assert 0 < done_before < 2500

    subprocess.run(_train_cmd(cfg, ring8_npz, out), check=True, env=env_with_venv(), timeout=600)
    train = yaml.safe_load((out / "train.json").read_text())
    assert train["resumed_from"] >= done_before and train["status"] == "ok"
    assert_same_weights(tmp_path / "straight", out)
    a, b = pd.read_csv(tmp_path / "straight/log.csv"), pd.read_csv(out / "log.csv")
    pd.testing.assert_frame_equal(a[LOSS_COLUMNS], b[LOSS_COLUMNS])


def test_divergence_is_recorded_not_fatal(ring8_npz, tmp_path):
    settings = merge(SETTINGS, {"loss": "wgan", "optimizer": {"name": "sgd", "lr_g": 1e6, "lr_d": 1e6}})
    result = train_run(settings, ring8_npz, tmp_path / "run", 0, threads=1)
    assert result["status"] == "diverged"
    assert "step" in result["message"] and result["steps"] < 120
    assert (tmp_path / "run/train.json").exists()


def test_divergence_check_looks_at_every_discriminator(ring8_npz, tmp_path):
    """Weights that explode in the third discriminator of multi_d stop the run as diverged, naming that network
    (the losses stay finite: only the weight check can see it)."""
    from ganbench.data import load_prepared
    from ganbench.train.run import build_gan
    from ganbench.train.trainer import Trainer
    from ganbench.tricks.surgery import head

    data = load_prepared(ring8_npz)
    torch.manual_seed(0)
    gan = build_gan(merge(SETTINGS, {"tricks": {"multi_d": {"count": 3}}}), data, torch.device("cpu"))
    with torch.no_grad():
        head(gan.Ds[2])[1].bias.fill_(1e7)  # every logit of D2 about 1e7, its loss finite
    trainer = Trainer(gan, torch.from_numpy(data.x_train), tmp_path / "run", steps=20, log_every=10,
                      checkpoint_every=10**9)
    result = trainer.fit()
    assert result["status"] == "diverged" and result["steps"] == 10
    assert result["message"].startswith("weights of D2 exploded"), result["message"]
    assert all(math.isfinite(v) for v in trainer.rows[-1].values())


def test_truncated_checkpoint_falls_back_to_previous(ring8_npz, tmp_path):
    run = tmp_path / "run"
    train_run(merge(SETTINGS, {"steps": 100, "checkpoint_every": 30}), ring8_npz, run, 0, threads=1)
    ckpts = sorted((run / "ckpt").glob("step*.pt"))
    assert [p.name for p in ckpts] == ["step00000090.pt", "step00000100.pt"]  # the newest two, final included
    data = ckpts[-1].read_bytes()
    ckpts[-1].write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        checkpoint.load_file(ckpts[-1])
    state = checkpoint.load_latest(run / "ckpt")
    assert state["gan"]["step"] == 90


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/ganbench-pwned",))


def test_checkpoint_that_would_run_code_is_refused(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    with open(folder / "step00000010.pt", "wb") as handle:
        torch.save({"gan": _Evil()}, handle, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(CheckpointError, match="refused"):
        checkpoint.load_latest(folder)
    assert not Path("/tmp/ganbench-pwned").exists()


# ------------------------------------------------------------------ runtime switches (issue: GPUs), on the CPU
def test_amp_runs_the_training_step_in_bfloat16(ring8_npz, tmp_path):
    """runtime.amp: the step runs under bf16 autocast (D's linear layers compute in bfloat16); losses stay finite and
    the weights stay float32."""
    from ganbench.data import load_prepared
    from ganbench.train.run import build_gan
    from ganbench.train.trainer import Trainer

    data = load_prepared(ring8_npz)
    dtypes: dict[bool, set[torch.dtype]] = {}
    for amp in (False, True):
        torch.manual_seed(0)
        gan = build_gan(SETTINGS, data, torch.device("cpu"))
        seen: set[torch.dtype] = set()
        first = next(m for m in gan.D.modules() if isinstance(m, torch.nn.Linear))
        first.register_forward_hook(lambda module, args, out, seen=seen: seen.add(out.dtype))
        trainer = Trainer(gan, torch.from_numpy(data.x_train), tmp_path / f"amp{amp}", steps=30, log_every=10,
                          checkpoint_every=10**9, amp=amp)
        result = trainer.fit()
        assert result["status"] == "ok", result["message"]
        assert all(p.dtype == torch.float32 for p in gan.G.parameters())
        dtypes[amp] = seen
    assert dtypes == {False: {torch.float32}, True: {torch.bfloat16}}


def test_compile_trains_and_keeps_checkpoints_interchangeable(ring8_npz, tmp_path):
    """runtime.compile: torch.compile'd G and D (inductor, CPU C++ backend here) train to nearly the same losses as
    eager mode, and their weights/checkpoints have the eager keys, so either mode resumes or evaluates the other's."""
    settings = {**SETTINGS, "steps": 40, "checkpoint_every": 20}
    from torch._dynamo.utils import counters

    eager = train_run(settings, ring8_npz, tmp_path / "eager", 0, {"compile": False}, threads=1)
    counters.clear()
    compiled = train_run(settings, ring8_npz, tmp_path / "compiled", 0, {"compile": True}, threads=1)
    assert counters["stats"]["unique_graphs"] > 0, "runtime.compile did not compile anything"
    assert eager["status"] == compiled["status"] == "ok"
    assert weights(tmp_path / "eager").keys() == weights(tmp_path / "compiled").keys()
    le, lc = pd.read_csv(tmp_path / "eager/log.csv"), pd.read_csv(tmp_path / "compiled/log.csv")
    assert (le["loss_d"] - lc["loss_d"]).abs().max() < 1e-3 and (le["loss_g"] - lc["loss_g"]).abs().max() < 1e-3
    # a compiled run resumes from an eager run's checkpoint (same state_dict keys; compile is no part of a run's
    # identity): drop the eager run's final checkpoint, and the compiled rerun continues from step 20
    (tmp_path / "eager/ckpt/step00000040.pt").unlink()
    resumed = train_run(settings, ring8_npz, tmp_path / "eager", 0, {"compile": True}, threads=1)
    assert resumed["status"] == "ok" and resumed["resumed_from"] == 20


def test_deterministic_switch_gives_identical_runs(ring8_npz, tmp_path):
    try:
        for name in ("a", "b"):
            train_run(SETTINGS, ring8_npz, tmp_path / name, 5, {"deterministic": True}, threads=1)
            assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)  # a process-wide switch: leave the other tests as they were
    assert_same_weights(tmp_path / "a", tmp_path / "b")


PAGE_FAULTS_PER_STEP = """
import resource, statistics, torch
from ganbench.config import SETTINGS_DEFAULTS, merge
from ganbench.device import configure_threads
from ganbench.train.gan import GAN

configure_threads(1)
settings = merge(SETTINGS_DEFAULTS, {"architecture": {"name": "dcgan", "width": 32}})
torch.manual_seed(0)
gan = GAN(settings, (1, 28, 28), "image", 10, torch.device("cpu"))
real = lambda: torch.rand(64, 1, 28, 28) * 2 - 1
faults = []
for _ in range(15):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    gan.train_step(real)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(statistics.median(faults[5:]))  # (the heap grows to its peak in the first steps)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the allocator setting is glibc's")
def test_training_steps_reuse_freed_memory_instead_of_faulting_it_in_again():
    from ganbench.device import reuse_freed_memory

    assert reuse_freed_memory()  # glibc accepted both mallopt settings
    # in a fresh process set up as `ganbench train` sets it up, a DCGAN step (batch 64) reuses the memory the
    # previous step freed: without the setting glibc hands its larger blocks back and this step takes ~5000 page faults
    out = subprocess.run([sys.executable, "-c", PAGE_FAULTS_PER_STEP], capture_output=True, text=True,
                         env=env_with_venv(), check=True)
    assert float(out.stdout.strip()) < 20, out.stdout
