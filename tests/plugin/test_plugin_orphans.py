"""Snapshots of deleted cases ("orphans"): syrupy cannot tie them to a test, so the plugin finds
them, reports them once (on the xdist controller), fails the run, and deletes them on
``--snapshot-update``."""

from __future__ import annotations

from pathlib import Path

import pytest
from snix_plugin_helpers import hello_case, make_ini, run


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """Two cases with snapshots, then one of them deleted."""
    make_ini(pytester, snix_case_dirs=["cases"])
    cases = pytester.mkdir("cases")
    (cases / "kept.toml").write_text(hello_case())
    (cases / "gone.toml").write_text(hello_case("bye"))
    run(pytester, "--snapshot-update", "cases")
    (cases / "gone.toml").unlink()
    return pytester


def snapshots(project: pytest.Pytester) -> Path:
    return project.path / "cases" / "__snapshots__"


def test_orphan_is_reported_once_and_fails_the_run(
    project: pytest.Pytester, plugin_args: list[str]
) -> None:
    result = run(project, *plugin_args, "cases")
    result.assert_outcomes(skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*- snixbuild orphaned snapshots -*",
            "orphaned snapshot cases/__snapshots__/gone: its case cases/gone.toml no longer exists",
            "1 orphaned case snapshot(s): re-run with --snapshot-update to delete them",
        ],
        consecutive=True,
    )
    assert result.stdout.str().count("orphaned snapshot cases/") == 1
    assert (snapshots(project) / "gone" / "gone.json").exists()


def test_snapshot_update_deletes_the_orphan(
    project: pytest.Pytester, plugin_args: list[str]
) -> None:
    result = run(project, "--snapshot-update", *plugin_args, "cases")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["Deleted orphaned case snapshot cases/__snapshots__/gone"])
    assert not (snapshots(project) / "gone").exists()
    assert (snapshots(project) / "kept" / "kept.json").exists()
    result = run(project, *plugin_args, "cases")
    assert result.ret == pytest.ExitCode.OK
    assert "orphaned" not in result.stdout.str()


def test_last_case_deleted(project: pytest.Pytester) -> None:
    """No case is left to collect: the orphans are still found, and deleting the last one
    removes the empty ``__snapshots__`` directory."""
    (project.path / "cases" / "kept.toml").unlink()
    result = run(project, "cases")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["2 orphaned case snapshot(s): *"])
    result = run(project, "--snapshot-update", "cases")
    result.stdout.fnmatch_lines(
        [
            "Deleted orphaned case snapshot cases/__snapshots__/gone",
            "Deleted orphaned case snapshot cases/__snapshots__/kept",
        ]
    )
    assert not snapshots(project).exists()


def test_orphan_is_found_whatever_is_selected(project: pytest.Pytester) -> None:
    """The case file is gone whichever tests run, so -k and a test path do not hide it."""
    (project.path / "test_other.py").write_text("def test_other():\n    pass\n")
    result = run(project, "test_other.py")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["orphaned snapshot cases/__snapshots__/gone: *"])
    result = run(project, "-k", "kept", "cases")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["orphaned snapshot cases/__snapshots__/gone: *"])


def test_not_reported_by_collect_only(project: pytest.Pytester) -> None:
    result = run(project, "--co", "cases")
    assert "orphaned" not in result.stdout.str()


def test_python_test_snapshots_are_not_case_orphans(pytester: pytest.Pytester) -> None:
    """syrupy's own snapshots of a Python test module are syrupy's business."""
    pytester.makepyfile(
        test_spec="""
        def test_spec(snix_request, snix_spec, snix_snapshot):
            request = snix_request(command_args=["/bin/true"])
            assert snix_spec(request) == snix_snapshot
        """
    )
    run(pytester, "--snapshot-update", ".")
    assert (pytester.path / "__snapshots__" / "test_spec" / "test_spec.json").exists()
    result = run(pytester, ".")
    assert result.ret == pytest.ExitCode.OK
    assert "orphaned" not in result.stdout.str()


def test_hidden_and_virtualenv_dirs_are_not_searched(project: pytest.Pytester) -> None:
    result = run(project, "--snapshot-update", "cases")
    assert result.ret == pytest.ExitCode.OK
    for parent in (".cache", "venv-like"):
        stale = project.path / "cases" / parent / "__snapshots__" / "old"
        stale.mkdir(parents=True)
        (stale / "old.json").write_text("{}\n")
    (project.path / "cases" / "venv-like" / "pyvenv.cfg").write_text("home = /usr\n")
    result = run(project, "cases")
    assert result.ret == pytest.ExitCode.OK
    assert "orphaned" not in result.stdout.str()
