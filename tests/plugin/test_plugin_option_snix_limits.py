"""``--snix-memory-limit SIZE`` / ini ``snix_memory_limit`` and ``--snix-disk-limit SIZE`` / ini
``snix_disk_limit``: a build over its memory limit is OOM-killed, one writing past its disk limit
runs out of space, and a size that is not one is a usage error."""

from __future__ import annotations

import pytest
from snix_plugin_helpers import case_toml, make_ini, run

#: dd allocates (and touches) a 256 MiB block
HOG = case_toml("dd if=/dev/zero of=/dev/null bs=256M count=1 && echo fine > $out")
#: writes 64 MiB into its output
WRITER = case_toml("dd if=/dev/zero of=$out bs=1M count=64")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".toml", hog=HOG, writer=WRITER)
    run(pytester, "--snapshot-update", ".")
    return pytester


@pytest.mark.snix_runc
def test_memory_limit_kills_a_hog(project: pytest.Pytester, plugin_args: list[str]) -> None:
    result = run(project, "--snix-runc", "--snix-memory-limit", "32M", *plugin_args, "hog.toml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*expected the build to succeed, but it failed*137*"])
    # without the limit the same case builds
    run(project, "--snix-runc", *plugin_args, "hog.toml").assert_outcomes(passed=1)


@pytest.mark.snix_runc
def test_disk_limit_stops_a_writer(project: pytest.Pytester, plugin_args: list[str]) -> None:
    result = run(project, "--snix-runc", "--snix-disk-limit", "8M", *plugin_args, "writer.toml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*No space left on device*"])
    run(project, "--snix-runc", *plugin_args, "writer.toml").assert_outcomes(passed=1)


@pytest.mark.snix_runc
def test_ini_limits_and_command_line_wins(project: pytest.Pytester) -> None:
    make_ini(project, snix_memory_limit="32M")
    run(project, "--snix-runc", "hog.toml").assert_outcomes(failed=1)
    run(project, "--snix-runc", "--snix-memory-limit", "1G", "hog.toml").assert_outcomes(passed=1)


@pytest.mark.parametrize("flag", ["--snix-memory-limit", "--snix-disk-limit"])
def test_bad_size_is_a_usage_error(project: pytest.Pytester, flag: str) -> None:
    result = run(project, flag, "lots", "hog.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    name = flag.removeprefix("--").replace("-", "_")
    result.stderr.fnmatch_lines(
        [
            f"ERROR: {flag} / {name}: 'lots' is not a size "
            "(expected bytes, or a number with K, M, G or T)"
        ]
    )
