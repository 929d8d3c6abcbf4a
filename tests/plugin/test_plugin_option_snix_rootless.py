"""``--snix-rootless`` / ``--snix-rootful`` / ini ``snix_rootless``: whether builds run in a user
namespace. A build can tell: without one, ``/proc/self/uid_map`` is the full identity map of the
initial namespace (``0 0 4294967295``). The snapshots hold both modes' specs, so they do not
depend on the mode a run builds in."""

from __future__ import annotations

import pytest
from snix_plugin_helpers import case_toml, make_ini, run

#: writes "host" without a user namespace and "userns" in one
WHERE = (
    "read inside outside count < /proc/self/uid_map; "
    'if [ "$count" = 4294967295 ]; then echo host > $out; else echo userns > $out; fi'
)


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".toml", where=case_toml(WHERE))
    (pytester.path / "expect_userns.toml").write_text(case_toml(WHERE, contents="userns\n"))
    (pytester.path / "expect_host.toml").write_text(case_toml(WHERE, contents="host\n"))
    run(pytester, "--snapshot-update", ".")
    return pytester


@pytest.mark.snix_runc
def test_rootless_is_the_default(project: pytest.Pytester) -> None:
    result = run(project, "--snix-runc", ".")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["snixbuild: runtime runc (*), rootless (user namespace), *"])
    result.stdout.fnmatch_lines(["FAILED expect_host.toml::expect_host*"])
    result.stdout.fnmatch_lines(["    -host", "    +userns"])


@pytest.mark.snix_runc
def test_rootful(project: pytest.Pytester, plugin_args: list[str]) -> None:
    result = run(project, "--snix-runc", "--snix-rootful", *plugin_args, ".")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["snixbuild: runtime runc (*), rootful, *"])
    result.stdout.fnmatch_lines(["FAILED expect_userns.toml::expect_userns*"])


@pytest.mark.snix_runc
def test_ini_rootful(project: pytest.Pytester) -> None:
    make_ini(project, snix_rootless=False)
    result = run(project, "--snix-runc", "expect_host.toml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["snixbuild: runtime runc (*), rootful, *"])


@pytest.mark.snix_runc
def test_command_line_wins_over_ini(project: pytest.Pytester) -> None:
    make_ini(project, snix_rootless=False)
    result = run(project, "--snix-runc", "--snix-rootless", "expect_userns.toml")
    result.assert_outcomes(passed=1)
    make_ini(project, snix_rootless=True)
    result = run(project, "--snix-runc", "--snix-rootful", "expect_host.toml")
    result.assert_outcomes(passed=1)


def test_snapshots_hold_both_modes(project: pytest.Pytester) -> None:
    snapshots = project.path / "__snapshots__" / "where"
    rootless = (snapshots / "where.json").read_text()
    rootful = (snapshots / "where[rootful].json").read_text()
    assert '"type": "user"' in rootless
    assert '"type": "user"' not in rootful
    # a rootful run checks the same snapshot files (without --snix-runc: only the snapshots)
    result = run(project, "--snix-rootful", "where.toml")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*2 snapshots passed*"])
