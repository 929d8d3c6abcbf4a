"""``--snix-keep-failed`` / ini ``snix_keep_failed``: the bundle of a failed build is kept for
inspection, and its path is shown in the failure and in a "kept bundle" report section."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from snix_plugin_helpers import case_toml, make_ini, run

#: a build that fails (and says why on stderr)
BROKEN = case_toml("echo 'no compiler here' >&2; exit 7")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".toml", broken=BROKEN)
    run(pytester, "--snapshot-update", "broken.toml")
    return pytester


def kept_bundle(result: pytest.RunResult) -> Path:
    """The bundle path the failure message names; it must also be in the report section."""
    text = result.stdout.str()
    match = re.search(r"the failed build's bundle is kept at (\S+)", text)
    assert match is not None, text
    bundle = Path(match.group(1))
    assert f"the failed build's bundle: {bundle}" in text
    return bundle


@pytest.mark.snix_runc
def test_failed_bundle_is_kept(project: pytest.Pytester, plugin_args: list[str]) -> None:
    result = run(project, "--snix-runc", "--snix-keep-failed", *plugin_args, "broken.toml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Captured kept bundle call*"])
    bundle = kept_bundle(result)
    assert (bundle / "config.json").is_file()
    assert (bundle / "root").is_dir()


@pytest.mark.snix_runc
def test_failed_bundle_is_removed_by_default(project: pytest.Pytester) -> None:
    result = run(project, "--snix-runc", "broken.toml")
    result.assert_outcomes(failed=1)
    assert "kept bundle" not in result.stdout.str()
    assert "is kept at" not in result.stdout.str()
    bundle_roots = list((project.path.parent / "basetemp").glob("snix-bundles-*"))
    assert bundle_roots
    for root in bundle_roots:
        assert [p.name for p in root.iterdir() if p.name != ".runc"] == []


@pytest.mark.snix_runc
def test_ini_keep_failed(project: pytest.Pytester) -> None:
    make_ini(project, snix_keep_failed=True)
    result = run(project, "--snix-runc", "broken.toml")
    result.assert_outcomes(failed=1)
    assert (kept_bundle(result) / "config.json").is_file()


@pytest.mark.snix_runc
def test_command_line_wins_over_ini(project: pytest.Pytester) -> None:
    make_ini(project, snix_keep_failed=False)
    result = run(project, "--snix-runc", "--snix-keep-failed", "broken.toml")
    assert (kept_bundle(result) / "config.json").is_file()
