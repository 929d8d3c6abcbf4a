"""What a benchmark run is asked for: quick or full sizes, the number of runs, logging."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from bench.measure import GIB, MIB


@dataclass(frozen=True)
class Sizes:
    big: int  # the large input / output / NAR tree, bytes
    files: int  # small files in a tree
    cases: int  # TOML cases in the suite
    haystack: int  # refscan haystack, bytes


FULL = Sizes(big=GIB, files=10_000, cases=100, haystack=256 * MIB)
QUICK = Sizes(big=128 * MIB, files=1_000, cases=20, haystack=64 * MIB)


@dataclass(frozen=True)
class Context:
    quick: bool = False
    #: overrides every row's number of runs
    runs_override: int | None = None
    verbose: bool = False

    @property
    def sizes(self) -> Sizes:
        return QUICK if self.quick else FULL

    def runs(self, full: int, quick: int) -> int:
        """A row's number of runs: ``--runs``, else its quick or full default."""
        if self.runs_override is not None:
            return self.runs_override
        return quick if self.quick else full

    def log(self, message: str) -> None:
        if self.verbose:
            print(f"  . {message}", file=sys.stderr, flush=True)
