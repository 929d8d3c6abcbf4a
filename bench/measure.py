"""Timing helpers: interleaved runs, medians, load readings.

Every figure is a median of several runs. Figures and their baselines are measured *interleaved*
(figure, baseline, figure, baseline, …) so that drift on this noisy, shared machine hits both
alike.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

MIB = 1 << 20
GIB = 1 << 30

#: an action returns the seconds it measured itself (e.g. inside a container) as a float; any
#: other return value means "time me from the outside"
Action = Callable[[], object]


@dataclass
class Samples:
    """The measurements of one action (seconds, or any other unit)."""

    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def spread(self) -> tuple[float, float]:
        """(min, max)."""
        return min(self.values), max(self.values)

    def show(self, scale: float = 1.0, digits: int = 3) -> str:
        """The values, for the verbose log."""
        return "[" + ", ".join(f"{v * scale:.{digits}f}" for v in self.values) + "]"


def run_once(action: Action) -> float:
    """Seconds taken by ``action`` (its own figure when it returns one)."""
    started = time.perf_counter()
    inner = action()
    elapsed = time.perf_counter() - started
    return inner if isinstance(inner, float) else elapsed


def interleaved(actions: Mapping[str, Action], runs: int, warmup: int = 1) -> dict[str, Samples]:
    """Run each action ``warmup`` times, then ``runs`` rounds of all actions in turn."""
    for action in actions.values():
        for _ in range(warmup):
            action()
    samples = {name: Samples() for name in actions}
    for _ in range(runs):
        for name, action in actions.items():
            samples[name].values.append(run_once(action))
    return samples


def load1() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def rate(size: int, seconds: float) -> float:
    """GB/s (decimal) for ``size`` bytes in ``seconds``."""
    return size / max(seconds, 1e-9) / 1e9
