"""Helpers of the plugin tests: tiny TOML cases, and running an inner pytest."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence

import pytest

#: a store path hash (nixbase32) for the outputs of the tiny cases
HASH = "bhg1c6wywawwaaivx0k0x8xhbyx4vwic"
#: a second hash, used as a needle
OTHER_HASH = "p9ddwcl05krg9hicz72wv068zfmhsa2i"
#: the inner run may take this long at most (it runs real builds)
INNER_TIMEOUT = 300.0


def out_path(name: str = "out", digest: str = HASH) -> str:
    """The relative output path of a case: ``nix/store/<hash>-<name>``."""
    return f"nix/store/{digest}-{name}"


def case_toml(
    script: str,
    *,
    name: str = "out",
    success: bool | None = True,
    contents: str | None = None,
    needles: Sequence[str] | None = None,
    refscan_needles: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> str:
    """A case that runs ``/bin/sh -c script`` with ``$out`` set to its one output.

    ``success=None`` leaves ``[expect]`` out; ``contents`` and ``needles`` are expected of the
    output."""
    out = out_path(name)
    lines = [
        "[request]",
        f"command_args = {json.dumps(['/bin/sh', '-c', script])}",
        f"outputs = {json.dumps([out])}",
    ]
    if refscan_needles:
        lines.append(f"refscan_needles = {json.dumps(list(refscan_needles))}")
    lines += ["", "[request.environment_vars]", f'out = "/{out}"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in sorted((env or {}).items())]
    if success is not None:
        lines += ["", "[expect]", f"success = {json.dumps(success)}"]
    if contents is not None or needles is not None:
        lines += ["", f'[expect.outputs."{out}"]']
        if contents is not None:
            lines.append(f"contents = {json.dumps(contents)}")
        if needles is not None:
            lines.append(f"needles = {json.dumps(list(needles))}")
    return "\n".join(lines) + "\n"


def hello_case(word: str = "hello") -> str:
    """The smallest passing case: writes ``word`` and a newline to its output."""
    return case_toml(f"echo {word} > $out", contents=f"{word}\n")


def uses_workers(args: Sequence[str]) -> bool:
    """Whether ``args`` start xdist workers (``-n N`` with N > 0)."""
    for flag, value in itertools.pairwise(args):
        if flag in ("-n", "--numprocesses") and value != "0":
            return True
    return False


#: plugins the inner projects do not use; not loading hypothesis saves ~0.7 s per process
QUIET_PLUGINS = ("-p", "no:hypothesispytest", "-p", "no:cacheprovider")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run the inner pytest: in this process, or in a subprocess when it starts xdist workers
    (they cannot be started in-process). The plugin loads through its entry point."""
    if uses_workers(args):
        return pytester.runpytest_subprocess(*QUIET_PLUGINS, *args, timeout=INNER_TIMEOUT)
    return pytester.runpytest(*QUIET_PLUGINS, *args)


def outcomes(result: pytest.RunResult) -> dict[str, int]:
    """The inner run's outcome counts (passed, failed, skipped, errors...)."""
    return result.parseoutcomes()


def make_ini(pytester: pytest.Pytester, **values: object) -> None:
    """Write ``pyproject.toml`` with these ``[tool.pytest.ini_options]`` (JSON values are valid
    TOML for booleans, strings and lists of strings)."""
    lines = ["[tool.pytest.ini_options]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    pytester.makepyprojecttoml("\n".join(lines) + "\n")
