"""Learning-rate schedules per optimiser step, as ``LambdaLR`` factors of the base learning rate.

A schedule is a function of the *absolute* step (``offset`` counts the steps done before a resume),
so a resumed run continues it exactly as long as the total number of epochs is unchanged.
"""

from __future__ import annotations

import math

from dlmir.errors import ParameterError

SCHEDULES = ("constant", "onecycle")


class OneCycle:
    """Learning-rate factor of the one-cycle schedule at a step (``LambdaLR``'s ``lr_lambda``).

    ``factor(step)`` for the absolute step ``offset + step`` of ``total_steps``: a half-cosine rise
    from ``1 / div`` to 1 over the first ``warmup`` fraction of the steps, then a half-cosine fall
    from 1 to ``1 / final_div`` at the last step (held there beyond it).
    """

    def __init__(
        self, total_steps: int, *, offset: int = 0, warmup: float = 0.1, div: float = 25.0, final_div: float = 1e4
    ) -> None:
        if total_steps < 1:
            raise ParameterError(f"total_steps must be >= 1, got {total_steps}")
        self.total, self.offset, self.div, self.final_div = int(total_steps), int(offset), div, final_div
        self.warm = max(1, round(warmup * self.total))

    def __call__(self, step: int) -> float:
        s = self.offset + step
        if s < self.warm:
            lo, a = 1.0 / self.div, s / self.warm
            return lo + (1.0 - lo) * (1.0 - math.cos(math.pi * a)) / 2.0
        lo, a = 1.0 / self.final_div, min(1.0, (s - self.warm) / max(1, self.total - 1 - self.warm))
        return lo + (1.0 - lo) * (1.0 + math.cos(math.pi * a)) / 2.0


__all__ = ["OneCycle", "SCHEDULES"]
