"""Experience replay (Shrivastava et al. 2017, Sec. 2.3): D also sees fakes from earlier generators, kept in a
history buffer, so G cannot win by jumping back to a mode D has forgotten.

Each discriminator step replaces ``fraction`` of the fake batch by fakes drawn at random from the buffer (k of
them), then stores fresh fakes in the buffer: while it fills, the whole fresh batch; once full, k fresh fakes
overwrite k slots chosen at random, as in the paper ("randomly replace b/2 samples in the buffer with the newly
generated images", here b/2 = k for ``fraction: 0.5``). Random replacement lets a sample survive any number of
steps with a geometrically falling probability, so old generator states stay represented; a ring (overwrite the
oldest) would keep only the last size/k steps.

Every stored sample carries the generator step at which it was made; ``replay_age``, a column of ``log.csv``, is
the mean age in generator steps of the fakes replayed in the step's last D update. The buffer and the ages are part
of the trick's state, so a resumed run replays what the interrupted one stored.
"""

from __future__ import annotations

import torch

from ganbench.options import COUNT, PROBABILITY
from ganbench.tricks.base import TRICKS, Trick


class ReplayBuffer:
    """``capacity`` samples with the step each was made at; filled in order, then overwritten at random slots.
    Storage is allocated on the first ``push`` (shape, dtype and device of it)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.data: torch.Tensor | None = None
        self.made: torch.Tensor | None = None  # the generator step of each slot's sample
        self.count = 0  # filled slots

    def push(self, samples: torch.Tensor, step: int, n: int | None = None) -> None:
        """Store ``samples``: into free slots while there are any, then (at most ``n`` of them, default all) over
        slots drawn at random without repetition."""
        samples = samples.detach()
        if self.data is None:
            self.data = samples.new_zeros((self.capacity, *samples.shape[1:]))
            self.made = torch.zeros(self.capacity, device=samples.device)
        free = min(self.capacity - self.count, samples.shape[0])
        if free:
            self.data[self.count:self.count + free] = samples[:free]
            self.made[self.count:self.count + free] = step
            self.count += free
            samples = samples[free:]
            n = None if n is None else max(0, n - free)
        replace = min(samples.shape[0] if n is None else n, self.count)
        if replace:
            slots = torch.randperm(self.count, device=samples.device)[:replace]
            self.data[slots] = samples[-replace:]
            self.made[slots] = step

    def sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` stored samples drawn at random (with repetition), and the steps they were made at."""
        if self.data is None or self.count == 0:
            raise ValueError("the replay buffer is empty")
        idx = torch.randint(0, self.count, (n,), device=self.data.device)
        return self.data[idx], self.made[idx]

    def state_dict(self) -> dict:
        if self.data is None:
            return {"count": 0}
        return {"data": self.data[: self.count].clone(), "made": self.made[: self.count].clone(), "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.count = int(state.get("count", 0))
        if "data" in state:
            stored = state["data"]
            self.data = stored.new_zeros((self.capacity, *stored.shape[1:]))
            self.data[: self.count] = stored
            self.made = torch.zeros(self.capacity, device=stored.device)
            if "made" in state:  # checkpoints from before the ages were kept count their samples as made at step 0
                self.made[: self.count] = state["made"]


@TRICKS.register("experience_replay")
class ExperienceReplay(Trick):
    defaults = {"size": 1024, "fraction": 0.5}
    ranges = {"size": COUNT, "fraction": PROBABILITY}
    citation = "Shrivastava et al., Learning from Simulated and Unsupervised Images (CVPR 2017), Sec. 2.3"
    stat_names = ("replay_age",)

    def __init__(self, options, key):
        super().__init__(options, key)
        self.buffer = ReplayBuffer(self.options["size"])
        self.age: torch.Tensor | None = None  # mean age of the last replayed fakes

    def d_inputs(self, real, fake, ctx):
        target = round(float(self.options["fraction"]) * fake.shape[0])
        k = min(target, self.buffer.count)
        if k > 0:
            old, made = self.buffer.sample(k)
            mixed = torch.cat([old, fake[k:]])
            self.age = (ctx.step - made).mean()
        else:
            mixed = fake
        self.buffer.push(fake, ctx.step, target)
        return real, mixed

    def stats(self, ctx):
        if self.age is None:
            self.age = torch.zeros((), device=ctx.device)
        return {"replay_age": self.age}

    def state_dict(self):
        return {"buffer": self.buffer.state_dict()}

    def load_state_dict(self, state):
        self.buffer.load_state_dict(state.get("buffer", {}))
