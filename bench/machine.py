"""What the benchmarks ran on: CPUs, memory, kernel, tool and library versions."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata


def _first_line(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if lines else None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _mem_gib() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1 << 20)
    return 0.0


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def describe() -> list[str]:
    """One item per fact, for the line under the table."""
    tools = {
        "runc": ["runc", "--version"],
        "nix": ["nix-store", "--version"],
        "b3sum": ["b3sum", "--version"],
        "rg": ["rg", "--version"],
    }
    versions = []
    for name, argv in tools.items():
        line = _first_line(argv)
        versions.append(f"{name} {line.split()[-1] if line else 'absent'}")
    libs = [f"{p} {_version(p)}" for p in ("blake3", "mfusepy", "ahocorasick-rs", "pytest-xdist")]
    return [
        f"{os.cpu_count()} × {_cpu_model()}",
        f"{_mem_gib():.0f} GiB RAM",
        f"kernel {platform.release()}",
        f"Python {platform.python_version()}",
        ", ".join(versions),
        ", ".join(libs),
    ]
