"""Experience replay (Shrivastava et al. 2017, Sec. 2.3): D also sees fakes from earlier generators, kept in a
buffer, so G cannot win by jumping back to a mode D has forgotten.

Each discriminator step replaces ``fraction`` of the fake batch by fakes drawn at random from the buffer, then
stores the fresh fakes in the buffer, a ring of ``size`` samples (the oldest are overwritten first). The buffer is
part of the trick's state, so a resumed run replays what the interrupted one stored.
"""

from __future__ import annotations

import torch

from ganbench.errors import ConfigError
from ganbench.tricks.base import ORDER_SOURCE, TRICKS, Trick


class ReplayBuffer:
    """A ring of the last ``capacity`` samples, allocated on the first ``push`` (shape, dtype and device of it)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.data: torch.Tensor | None = None
        self.count = 0  # filled slots
        self.pos = 0  # next slot to write

    def push(self, samples: torch.Tensor) -> None:
        samples = samples.detach()[-self.capacity:]
        if self.data is None:
            self.data = samples.new_zeros((self.capacity, *samples.shape[1:]))
        slots = (self.pos + torch.arange(samples.shape[0], device=samples.device)) % self.capacity
        self.data[slots] = samples
        self.pos = (self.pos + samples.shape[0]) % self.capacity
        self.count = min(self.count + samples.shape[0], self.capacity)

    def sample(self, n: int) -> torch.Tensor:
        if self.data is None or self.count == 0:
            raise ValueError("the replay buffer is empty")
        return self.data[torch.randint(0, self.count, (n,), device=self.data.device)]

    def state_dict(self) -> dict:
        if self.data is None:
            return {"count": 0, "pos": 0}
        return {"data": self.data[: self.count].clone(), "count": self.count, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.count, self.pos = int(state.get("count", 0)), int(state.get("pos", 0))
        if "data" in state:
            stored = state["data"]
            self.data = stored.new_zeros((self.capacity, *stored.shape[1:]))
            self.data[: self.count] = stored


@TRICKS.register("experience_replay")
class ExperienceReplay(Trick):
    defaults = {"size": 1024, "fraction": 0.5}
    citation = "Shrivastava et al., Learning from Simulated and Unsupervised Images (CVPR 2017), Sec. 2.3"
    order = ORDER_SOURCE

    def __init__(self, options, key):
        super().__init__(options, key)
        if not isinstance(self.options["size"], int) or self.options["size"] < 1:
            raise ConfigError(f"{key}.size: expected an integer >= 1, got {self.options['size']!r}")
        if not 0.0 <= self.options["fraction"] <= 1.0:
            raise ConfigError(f"{key}.fraction: expected a number in [0, 1], got {self.options['fraction']}")
        self.buffer = ReplayBuffer(self.options["size"])

    def d_inputs(self, real, fake, gan):
        k = min(round(float(self.options["fraction"]) * fake.shape[0]), self.buffer.count)
        mixed = torch.cat([self.buffer.sample(k), fake[k:]]) if k > 0 else fake
        self.buffer.push(fake)
        return real, mixed

    def state_dict(self):
        return {"buffer": self.buffer.state_dict()}

    def load_state_dict(self, state):
        self.buffer.load_state_dict(state.get("buffer", {}))
