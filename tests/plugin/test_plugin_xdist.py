"""xdist: each worker has its own bundle root (and so its own container ids and mountpoints),
the store is shared, the workers' build statistics reach the controller's summary, and the
controller alone reports orphans."""

from __future__ import annotations

from pathlib import Path

import pytest
from snix_plugin_helpers import hello_case, run

#: an input tree, so that every build mounts the castore over FUSE
WITH_INPUT = """
[request]
command_args = ["/bin/sh", "-c", "cat /nix/store/{hash}-in/greeting > $out"]
outputs = ["nix/store/bhg1c6wywawwaaivx0k0x8xhbyx4vwic-out"]

[request.environment_vars]
out = "/nix/store/bhg1c6wywawwaaivx0k0x8xhbyx4vwic-out"

[request.inputs]
"{hash}-in" = {{ path = "inputs/tree" }}

[expect.outputs."nix/store/bhg1c6wywawwaaivx0k0x8xhbyx4vwic-out"]
contents = "hi from the input\\n"
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    tree = pytester.mkdir("inputs") / "tree"
    tree.mkdir()
    (tree / "greeting").write_text("hi from the input\n")
    for n, digest in enumerate(
        ("p9ddwcl05krg9hicz72wv068zfmhsa2i", "mp57d33657rf34lzvlbpfa1gjfv5gmpg")
    ):
        (pytester.path / f"input-{n}.toml").write_text(WITH_INPUT.format(hash=digest))
    for n in range(2):
        (pytester.path / f"plain-{n}.toml").write_text(hello_case(f"plain{n}"))
    run(pytester, "--snapshot-update", ".")
    return pytester


def mounts_below(path: Path) -> list[str]:
    with open("/proc/self/mounts") as mounts:
        return [line for line in mounts if f" {path}" in line]


@pytest.mark.snix_runc
def test_two_workers(project: pytest.Pytester) -> None:
    result = run(project, "--snix-runc", "-n", "2", "--snix-keep-failed", ".")
    result.assert_outcomes(passed=4)
    # the controller's summary counts every worker's builds
    result.stdout.fnmatch_lines(["2 workers [[]4 items[]]", "*", "builds run: 4, failed: 0, *"])
    # one bundle root per worker, under that worker's basetemp; one store for the run
    basetemp = project.path / "runpytest-0"
    roots = sorted(p.relative_to(basetemp) for p in basetemp.glob("*/snix-bundles-*"))
    assert roots == [Path("popen-gw0/snix-bundles-gw0"), Path("popen-gw1/snix-bundles-gw1")]
    assert (basetemp / "snix-store" / "blobs").is_dir()
    assert not list(basetemp.glob("popen-gw*/snix-store"))
    # every build cleaned up after itself: no bundle, no mount left
    for root in roots:
        assert [p.name for p in (basetemp / root).iterdir() if p.name != ".runc"] == []
    assert mounts_below(basetemp) == []


@pytest.mark.snix_runc
@pytest.mark.parametrize("plugin_args", [[], ["-n", "0"]], ids=["no_xdist", "xdist_zero"])
def test_no_workers_use_one_bundle_root(project: pytest.Pytester, plugin_args: list[str]) -> None:
    result = run(project, "--snix-runc", *plugin_args, ".")
    result.assert_outcomes(passed=4)
    basetemp = project.path.parent / "basetemp"
    assert [p.name for p in basetemp.glob("snix-bundles-*")] == ["snix-bundles-main"]
    assert (basetemp / "snix-store" / "blobs").is_dir()
