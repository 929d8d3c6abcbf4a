"""What the plugin prints: the report header and the end-of-run build summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pytest_snixbuild.harness import BuildRecord, SnixHarness, fuse_available, runtime_version

#: how many of the slowest builds the summary lists
SLOWEST = 5
#: statuses counted in the summary line only when they occur
EXTRA_STATUSES = ("failed as expected", "interrupted")


def header_lines(harness: SnixHarness) -> list[str]:
    if not harness.runc_enabled:
        return ["snixbuild: real builds off (use --snix-runc to run them)"]
    version = runtime_version(harness.runtime) or "not found"
    fuse = fuse_available() or "available"
    mode = "rootless (user namespace)" if harness.rootless else "rootful"
    store = harness.store_description()
    strict = ", strict" if harness.strict else ""
    return [
        f"snixbuild: runtime {harness.runtime} ({version}), {mode}, FUSE {fuse}, "
        f"store {store}{strict}"
    ]


def summary_lines(records: Sequence[BuildRecord]) -> list[str]:
    if not records:
        return []
    counts = Counter(r.status for r in records)
    total = sum(r.duration for r in records)
    parts = [f"builds run: {len(records)}", f"failed: {counts['failed']}"]
    parts += [f"{status}: {counts[status]}" for status in EXTRA_STATUSES if counts[status]]
    lines = [", ".join(parts) + f", total build time: {total:.2f}s"]
    slowest = sorted(records, key=lambda r: r.duration, reverse=True)[:SLOWEST]
    lines.append("slowest builds:")
    lines += [f"  {r.duration:7.2f}s  {r.name}{'' if r.ok else f'  ({r.status})'}" for r in slowest]
    return lines
