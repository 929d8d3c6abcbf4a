"""The pytest plugin (entry point ``pytest11: snixbuild``): hooks only; the work lives in
:mod:`~pytest_snixbuild.harness`, :mod:`~pytest_snixbuild.cases`,
:mod:`~pytest_snixbuild.fixtures`, :mod:`~pytest_snixbuild.orphans` and
:mod:`~pytest_snixbuild.reporting`.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_snixbuild import hookspecs
from pytest_snixbuild.cases import CaseFile, CaseItem, _invocation_paths, is_case_file
from pytest_snixbuild.fixtures import (  # noqa: F401 - fixtures are found by name
    snix_build,
    snix_case,
    snix_engine,
    snix_harness,
    snix_request,
    snix_snapshot,
    snix_spec,
    snix_store,
)
from pytest_snixbuild.harness import RUNC_OFF_REASON, SnixHarness, get_harness, harness_key
from pytest_snixbuild.options import OptionError, add_options, case_dirs
from pytest_snixbuild.orphans import delete_orphans, find_orphans
from pytest_snixbuild.reporting import header_lines, summary_lines

RUNC_MARKER = "snix_runc"
#: fixtures whose use makes a test need runc
RUNC_FIXTURES = frozenset({"snix_build", "snix_engine"})
STATS_KEY = "snixbuild_stats"
orphans_key = pytest.StashKey[list[Path]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{RUNC_MARKER}: the test needs a real OCI runtime (runc) and FUSE; "
        "skipped unless pytest runs with --snix-runc",
    )
    try:
        config.stash[harness_key] = SnixHarness(config)
    except OptionError as exc:
        raise pytest.UsageError(str(exc)) from None
    if config.args_source == pytest.Config.ArgsSource.TESTPATHS:
        # plain `pytest`: collect the case directories too
        config.args.extend(str(d) for d in case_dirs(config) if d.is_dir())
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "snixbuild-xdist")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Clean up (and report) what killed earlier runs left: mounts, containers, bundles.
    First, before anything asks for the basetemp (pytest empties a given --basetemp then)."""
    config = session.config
    harness = get_harness(config)
    if _is_worker(config) or not harness.runc_enabled:
        return
    lines = harness.recover_stale_state()
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if lines and reporter is not None:
        reporter.write_sep("-", "snixbuild: cleaned up after an earlier run that was killed")
        for line in lines:
            reporter.write_line(line)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_case_file(parent.config, file_path):
        return CaseFile.from_parent(parent, path=file_path)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        uses_runc = RUNC_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if uses_runc or isinstance(item, CaseItem):
            item.add_marker(RUNC_MARKER)
    if get_harness(config).runc_enabled:
        return
    skip = pytest.mark.skip(reason=RUNC_OFF_REASON)
    for item in items:
        # a case still checks its config.json snapshot without runc, then skips its build
        if item.get_closest_marker(RUNC_MARKER) is not None and not isinstance(item, CaseItem):
            item.add_marker(skip)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A ``snix_runc`` test skips (or with --snix-strict fails) when builds cannot run here.
    Cases check this themselves, after their snapshots."""
    if item.get_closest_marker(RUNC_MARKER) is not None and not isinstance(item, CaseItem):
        get_harness(item.config).require_runc()


def pytest_report_header(config: pytest.Config) -> list[str]:
    return header_lines(get_harness(config))


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _orphan_roots(config: pytest.Config) -> list[Path]:
    roots = {d for d in case_dirs(config) if d.is_dir()}
    roots |= {p for p in _invocation_paths(config) if p.is_dir()}
    return sorted(roots)


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
    """Workers hand their build statistics to the controller. The controller looks for orphaned
    snapshots before syrupy's own clean-up runs, and fails the run after it (syrupy ORs its
    status into ``session.exitstatus``, which would turn our 1 into 5 after "no tests")."""
    config = session.config
    if _is_worker(config):
        stats = get_harness(config).stats.to_json()
        config.workeroutput[STATS_KEY] = json.dumps(stats)  # type: ignore[attr-defined]
        return (yield)
    orphans = _find_orphans(config, exitstatus)
    config.stash[orphans_key] = orphans
    result = yield
    if orphans and not config.getoption("update_snapshots", default=False):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    return result


def _find_orphans(config: pytest.Config, exitstatus: int) -> list[Path]:
    # an interrupted or broken run says nothing about which cases exist; a run that collected
    # nothing may be one whose last case was deleted
    finished = (
        pytest.ExitCode.OK,
        pytest.ExitCode.TESTS_FAILED,
        pytest.ExitCode.NO_TESTS_COLLECTED,
    )
    if exitstatus not in finished or config.option.collectonly:
        return []
    return find_orphans(_orphan_roots(config), config.getini("norecursedirs"))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _is_worker(config):
        return
    orphans = config.stash.get(orphans_key, [])
    if orphans:
        update = config.getoption("update_snapshots", default=False)
        terminalreporter.write_sep("-", "snixbuild orphaned snapshots")
        if update:
            for path in delete_orphans(orphans):
                terminalreporter.write_line(
                    f"Deleted orphaned case snapshot {_shown(config, path)}"
                )
        else:
            for path in orphans:
                terminalreporter.write_line(
                    f"orphaned snapshot {_shown(config, path)}: its case "
                    f"{_shown(config, path.parent.parent / path.name)}.toml no longer exists"
                )
            terminalreporter.write_line(
                f"{len(orphans)} orphaned case snapshot(s): re-run with --snapshot-update "
                "to delete them"
            )
    lines = summary_lines(get_harness(config).stats.records)
    if lines:
        terminalreporter.write_sep("-", "snixbuild summary")
        for line in lines:
            terminalreporter.write_line(line)


def _shown(config: pytest.Config, path: Path) -> str:
    """``path`` relative to the directory pytest was started in, when it is below it."""
    try:
        return str(path.relative_to(config.invocation_params.dir))
    except ValueError:
        return str(path)


class _XdistHooks:
    """Hooks that exist only with pytest-xdist: merge the workers' build statistics."""

    @pytest.hookimpl
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        data = getattr(node, "workeroutput", {}).get(STATS_KEY)
        if data:
            get_harness(node.config).stats.merge_json(json.loads(data))
