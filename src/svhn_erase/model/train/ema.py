"""``WeightEma``: an exponential moving average of a model's weights during training.

After every optimisation step each floating-point entry of the state dict (weights and the
batch-norm running statistics) moves towards the model's by ``1 - decay``; integer entries
(batch-norm step counts) are copied. The decay warms up as ``min(decay, (1 + t) / (10 + t))``
after ``t`` updates, so a run from random weights does not drag them along. The average is
what a run with ``TrainConfig.ema`` validates and keeps; it sits on the model's device and
goes into the run's checkpoint, so a resumed run continues it exactly.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightEma:
    """The moving average of ``model``'s state dict; ``update(model)`` after each step."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for key, value in model.state_dict().items():
            mine = self.state[key]
            if mine.is_floating_point():
                mine.lerp_(value.detach(), 1 - decay)
            else:
                mine.copy_(value)

    def averaged(self, model: nn.Module) -> nn.Module:
        """A copy of ``model`` holding the averaged weights."""
        twin = copy.deepcopy(model)
        twin.load_state_dict(self.state)
        return twin

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The average (CPU copies) and its update count, for a checkpoint."""
        saved = {f"w.{k}": v.detach().cpu().contiguous() for k, v in self.state.items()}
        return {**saved, "updates": torch.tensor(self.updates)}

    def load_state_dict(self, saved: dict[str, torch.Tensor]) -> None:
        self.updates = int(saved["updates"])
        for key, mine in self.state.items():
            mine.copy_(saved[f"w.{key}"])
