"""The generic training loop: data feeding, logging, checkpoints, divergence, timing. Knows nothing of losses.

It trains any ``TrainingModel`` (``ganbench.train.models``): a GAN or a non-adversarial baseline. The dataset lives
on the device as one tensor; batches are random index draws, so there is no DataLoader and no per-batch host work.
Statistics stay on the device and are synced once every ``log_every`` steps; at that sync the divergence check
looks at the logged statistics and at the weights of every network the model trains.
"""

from __future__ import annotations

import csv
import io
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ganbench.errors import CheckpointError
from ganbench.io import atomic_open, torch_save
from ganbench.progress import Progress
from ganbench.train import checkpoint
from ganbench.train.gan import STAT_NAMES
from ganbench.train.preemption import Preempted, stop_requests

if TYPE_CHECKING:
    from ganbench.train.models import TrainingModel

LOG_COLUMNS = ("step", *STAT_NAMES, "seconds")
EXPLODED = 1e6  # a weight whose magnitude passes this counts as diverged


def to_model_space(x: torch.Tensor) -> torch.Tensor:
    """uint8 images → float in [-1, 1]; float points unchanged."""
    return x.float().div_(127.5).sub_(1.0) if x.dtype == torch.uint8 else x.float()


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    return x.add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)


class Diverged(Exception):
    pass


class Trainer:
    """``identity``: the run's identity hash (``ganbench.runs``), stored in every checkpoint; a checkpoint of
    another identity is never resumed."""

    def __init__(self, model: "TrainingModel", data: torch.Tensor, out_dir: Path, *, steps: int, log_every: int,
                 checkpoint_every: int, snapshots: int = 1, progress: bool | None = None, amp: bool = False,
                 labels: torch.Tensor | None = None, identity: str | None = None):
        self.model = model
        self.identity = identity
        # kept as stored (uint8 images: 4× smaller than float) on the device; each batch is converted on the fly
        self.data = data.to(model.device)
        # class labels, for a conditional model only (D then sees [x, onehot(y)])
        self.labels = labels.to(model.device) if labels is not None and model.conditioning.active else None
        self.out = Path(out_dir)
        self.steps = steps
        self.log_every = log_every
        self.checkpoint_every = checkpoint_every
        self.snapshot_steps = sorted({max(1, round(steps * (i + 1) / snapshots)) for i in range(snapshots)})
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.amp = amp  # bf16 autocast of the training step (on any device; it pays off on GPUs)
        self.rows: list[dict[str, float]] = []
        self.elapsed = 0.0  # seconds spent in training steps, summed over resumed segments
        self.cpu_elapsed = 0.0  # the same steps' CPU seconds (all threads of this process)
        self.resumed_from = 0
        # statistics of the log window in progress (flushed into one log row every log_every steps); checkpoints
        # keep them, so a run resumed mid-window writes the same log rows as one that never stopped
        self.pending: list[dict[str, torch.Tensor]] = []
        self.window_start = 0

    # ------------------------------------------------------------------ pieces
    def next_real(self) -> torch.Tensor:
        idx = torch.randint(0, self.data.shape[0], (self.model.batch_size,), device=self.data.device)
        x = to_model_space(self.data[idx])
        return x if self.labels is None else self.model.real_batch(x, self.labels[idx])

    def _flush(self, pending: list[dict[str, torch.Tensor]], first_step: int) -> None:
        stacked = torch.stack([torch.stack([s[k] for k in STAT_NAMES]) for s in pending]).mean(0)
        values = stacked.tolist()  # a host sync once per log window
        row = {"step": first_step + len(pending), **dict(zip(STAT_NAMES, values)), "seconds": self.elapsed}
        self.rows.append(row)
        if not all(math.isfinite(v) for v in values):
            raise Diverged(f"non-finite loss at step {row['step']}")
        nets = self.model.networks()
        largest = torch.stack([torch.stack([p.detach().abs().max().float() for p in net.parameters()]).max()
                               for net in nets.values()]).tolist()  # one sync for all networks
        for name, value in zip(nets, largest):
            if not math.isfinite(value) or value > EXPLODED:
                raise Diverged(f"weights of {name} exploded (max |w| = {value:.3g}) at step {row['step']}")

    def _write_log(self) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=LOG_COLUMNS)
        writer.writeheader()
        writer.writerows(self.rows)
        with atomic_open(self.out / "log.csv", "w") as handle:
            handle.write(buf.getvalue())

    def _checkpoint(self) -> None:
        self._write_log()
        pending = torch.stack([torch.stack([s[k] for k in STAT_NAMES]) for s in self.pending]) if self.pending \
            else torch.zeros(0, len(STAT_NAMES))
        checkpoint.save(self.out / "ckpt", self.model.step,
                        {"gan": self.model.state_dict(), "elapsed": self.elapsed, "cpu_elapsed": self.cpu_elapsed,
                         "rows": len(self.rows), "identity": self.identity,
                         "pending": pending, "window_start": self.window_start})

    def _resume(self) -> None:
        state = checkpoint.load_latest(self.out / "ckpt", self.model.device)
        self.window_start = self.model.step
        if state is None:
            return
        if state.get("identity") != self.identity:
            raise CheckpointError(f"{self.out / 'ckpt'}: the checkpoint belongs to run identity "
                                  f"{state.get('identity')}, not {self.identity}; it is not resumed (ganbench.runs "
                                  "moves such folders aside before training)")
        self.model.load_state_dict(state["gan"])
        checkpoint.set_rng_state(state["rng"])
        self.elapsed = float(state["elapsed"])
        self.cpu_elapsed = float(state.get("cpu_elapsed", 0.0))
        self.resumed_from = self.model.step
        if (self.out / "log.csv").exists():
            with open(self.out / "log.csv") as handle:
                rows = [{k: int(v) if k == "step" else float(v) for k, v in r.items()} for r in csv.DictReader(handle)]
            self.rows = [r for r in rows if r["step"] <= self.model.step][: int(state["rows"])]
        pending = state.get("pending")
        self.pending = [dict(zip(STAT_NAMES, row.to(self.model.device).unbind())) for row in pending] \
            if pending is not None else []
        self.window_start = int(state.get("window_start", self.model.step))

    def _snapshot(self) -> None:
        torch_save(self.model.sampler().state_dict(), self.out / "snapshots" / f"step{self.model.step:08d}.pt")

    # ------------------------------------------------------------------ the loop
    def fit(self) -> dict[str, Any]:
        """Train to ``steps``, resuming from the newest checkpoint. SIGTERM (a cluster's time limit or preemption)
        finishes the step in progress, writes a checkpoint of it and raises ``Preempted``."""
        self.out.mkdir(parents=True, exist_ok=True)
        self._resume()
        status, message = "ok", ""
        # a bar on a terminal, log lines otherwise (Snakemake job logs), fed with each flushed window's stats
        progress = Progress(self.steps, self.model.step, self.model.batch_size * self.model.batches_per_step,
                            tty=self.progress)
        try:
            with stop_requests() as stop:
                while self.model.step < self.steps:
                    t0, c0 = time.perf_counter(), time.process_time()
                    with torch.autocast(self.model.device.type, dtype=torch.bfloat16, enabled=self.amp):
                        self.pending.append(self.model.train_step(self.next_real))
                    step = self.model.step
                    if step % self.log_every == 0 or step == self.steps:
                        self._flush(self.pending, self.window_start)
                        progress.update(step, self.rows[-1])
                        self.pending, self.window_start = [], step
                    self.elapsed += time.perf_counter() - t0  # the flush's sync makes this exact at window ends
                    self.cpu_elapsed += time.process_time() - c0
                    if step in self.snapshot_steps:
                        self._snapshot()
                    if stop.requested and step < self.steps:
                        self._checkpoint()
                        raise Preempted(f"stopped by {stop.signal_name} after step {step} of {self.steps}; "
                                        f"checkpoint written, a rerun resumes from it", stop.signal)
                    if step % self.checkpoint_every == 0 and step < self.steps:
                        self._checkpoint()
        except Diverged as exc:
            status, message = "diverged", str(exc)
        finally:
            progress.close()
        if status == "ok":
            self._checkpoint()  # the final state too: D's weights for the critic estimate and filter plots
        else:
            self._write_log()
        images = self.model.step * self.model.batch_size * self.model.batches_per_step  # real images the steps read
        return {
            "status": status,
            "message": message,
            "steps": self.model.step,
            "train_seconds": self.elapsed,
            "train_cpu_seconds": self.cpu_elapsed,
            "images_per_second": images / max(self.elapsed, 1e-9),
            "resumed_from": self.resumed_from,
        }
