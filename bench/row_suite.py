"""Row 3: a suite of tiny TOML cases with ``pytest -n 2`` against the same suite serially.

The cases (``echo case N > $out`` with an ``[expect]`` on the output) are generated in a scratch
directory; a first serial run with ``--snapshot-update`` writes their config.json snapshots and
warms the castore, which every timed run then shares (``--snix-store``). Each run is a fresh
``pytest`` process (``-p no:cacheprovider --snix-runc``), timed from the outside, so start-up
and, with ``-n 2``, starting the xdist workers are included.
"""

from __future__ import annotations

import os
import random
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench.context import Context
from bench.data import scratch_dir, store_hash
from bench.measure import Samples, interleaved, load1
from bench.report import Goal, Result

GOAL = Goal("min", 1.7, "≥ 1.7× faster")

CASE = """\
[request]
command_args = ["/bin/sh", "-c", "echo case {n} > $out"]
outputs = ["{out}"]

[request.environment_vars]
out = "/{out}"

[expect.outputs."{out}"]
type = "file"
contents = "case {n}\\n"
"""


def write_cases(directory: Path, count: int) -> None:
    rng = random.Random(3)
    directory.mkdir()
    for n in range(count):
        out = f"nix/store/{store_hash(rng)}-case-{n:03d}"
        (directory / f"case_{n:03d}.toml").write_text(CASE.format(n=n, out=out))


def pytest_argv(tmp: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--snix-runc",
        "--snix-strict",
        "-q",
        f"--snix-store={tmp / 'store'}",
        f"--basetemp={tmp / 'basetemp'}",
        str(tmp / "cases"),
        *extra,
    ]


def pytest_env() -> dict[str, str]:
    """This environment, with bytecode caching on (as for most users: without it every run
    compiles and assertion-rewrites the plugin again, ~0.5 s)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def children_cpu() -> float:
    """CPU seconds used so far by this process's waited-for children (and theirs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_pytest(tmp: Path, count: int, *extra: str) -> None:
    done = subprocess.run(
        pytest_argv(tmp, *extra),
        cwd=tmp,
        env=pytest_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or f"{count} passed" not in done.stdout:
        raise RuntimeError(f"the suite failed ({done.returncode}):\n{done.stdout[-2000:]}")


def run(ctx: Context) -> Result:
    count = ctx.sizes.cases
    runs = ctx.runs(3, 2)
    load_before = load1()
    with scratch_dir("suite") as tmp:
        write_cases(tmp / "cases", count)
        run_pytest(tmp, count, "--snapshot-update")
        cpu: dict[str, Samples] = {"serial": Samples(), "-n 2": Samples()}

        def measured(name: str, *extra: str) -> Callable[[], None]:
            def action() -> None:
                before = children_cpu()
                run_pytest(tmp, count, *extra)
                cpu[name].values.append(children_cpu() - before)

            return action

        samples = interleaved(
            {"serial": measured("serial"), "-n 2": measured("-n 2", "-n", "2")},
            runs,
            warmup=0,
        )
    s = {name: v.median for name, v in samples.items()}
    for name, v in samples.items():
        ctx.log(f"{name} s {v.show()}")
    speedup = s["serial"] / s["-n 2"]
    busy = cpu["serial"].median / s["serial"]
    bound = s["serial"] / (cpu["-n 2"].median / (os.cpu_count() or 1))
    return Result(
        key="suite",
        what=f"{count}-case TOML suite, `pytest -n 2`",
        figure=f"{s['-n 2']:.2f} s ({s['-n 2'] / count * 1000:.0f} ms/case)",
        baseline=f"the same suite serially: {s['serial']:.2f} s",
        ratio=speedup,
        goal=GOAL,
        compared=speedup,
        notes=[
            f"medians of {runs} interleaved runs, each a fresh pytest process",
            "CPU time (pytest, its workers, runc and the builds): serial "
            f"{cpu['serial'].median:.2f} s, i.e. {busy:.2f} CPUs busy; with -n 2 "
            f"{cpu['-n 2'].median:.2f} s. On "
            f"{os.cpu_count()} CPUs -n 2 can be at most {bound:.2f}× faster than serial "
            "(serial wall time / (-n 2 CPU time / CPUs))",
        ],
        load=(load_before, load1()),
    )
