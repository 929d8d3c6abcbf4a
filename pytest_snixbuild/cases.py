"""TOML case files as pytest tests.

Each case file becomes one :class:`pytest.Function` (so fixtures, ``-k``, xdist and syrupy all
work) whose id is the file's stem. Running it:

1. loads the case (a bad file fails the test with the ``FILE:LINE: key: ...`` message) and
   applies the ``pytest_snixbuild_modify_request`` hook;
2. snapshots its normalized config.json with syrupy, next to the case: the rootless spec in
   ``__snapshots__/<stem>/<stem>.json`` and the rootful one in ``<stem>[rootful].json`` (both,
   whichever mode builds); a difference fails the test before the build, with a unified diff
   from the snapshot file; ``--snapshot-update`` accepts it;
3. builds it in runc (skipped without ``--snix-runc``);
4. checks its ``[expect]`` table; the failure lists every problem (``format_report``).
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_snixbuild.engine.errors import BuildError
from pytest_snixbuild.engine.expect import check_expectations, format_report
from pytest_snixbuild.errors import SnixError
from pytest_snixbuild.harness import SnixHarness, attach_logs
from pytest_snixbuild.oci.normalize import normalize_spec
from pytest_snixbuild.options import case_dirs, get_option
from pytest_snixbuild.request.model import BuildResult
from pytest_snixbuild.request.toml_case import Case, load_case

#: TOML files that are tools' configuration, never cases
CONFIG_FILES = frozenset({"pyproject.toml", "pytest.toml", "ruff.toml", "Cargo.toml", "uv.toml"})
#: the snapshot name of a case's rootful spec: ``__snapshots__/<stem>/<stem>[rootful].json``
ROOTFUL_SNAPSHOT = "rootful"


def is_case_file(config: pytest.Config, path: Path) -> bool:
    """Whether pytest should collect ``path`` as a case: it matches ``--snix-cases`` and lies
    under a ``snix_case_dirs`` directory or under a path given on the command line."""
    if path.suffix != ".toml" or path.name.startswith(".") or path.name in CONFIG_FILES:
        return False
    if not fnmatch.fnmatch(path.name, str(get_option(config, "snix_cases"))):
        return False
    resolved = path.resolve()
    roots = [*case_dirs(config), *_invocation_paths(config)]
    return any(resolved == root or root in resolved.parents for root in roots)


def _invocation_paths(config: pytest.Config) -> list[Path]:
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return []
    paths = []
    for arg in config.args:
        candidate = Path(config.invocation_params.dir, arg.split("::")[0])
        if candidate.exists():
            paths.append(candidate.resolve())
    return paths


def _case_test(path: Path) -> Callable[..., None]:
    """The test function of one case (a closure, so that each case has its own ``obj``)."""

    def test_snix_case(snix_harness: SnixHarness, snix_snapshot: Any, request: Any) -> None:
        run_case(path, snix_harness, snix_snapshot, request.node)

    test_snix_case.__module__ = __name__
    return test_snix_case


class CaseItem(pytest.Function):
    """One TOML case; reports point at the TOML file."""

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"snix case {self.name}"


class CaseFile(pytest.File):
    """A TOML file holding one case."""

    def collect(self) -> Iterator[pytest.Item]:
        yield CaseItem.from_parent(self, name=self.path.stem, callobj=_case_test(self.path))


def run_case(path: Path, harness: SnixHarness, snapshot: Any, item: pytest.Item) -> None:
    problem: str | None = None
    try:
        case = load_case(path, harness.store)
    except SnixError as exc:
        problem = str(exc)
    if problem is not None:  # outside the except block: no "During handling..." chain
        pytest.fail(problem, pytrace=False)
    request = harness.modify_request(case.request, case)
    # both modes are always snapshotted, so the snapshot files do not depend on the run's mode;
    # both are compared before failing, so that syrupy sees both snapshots as used
    rootless = compare_snapshot(snapshot, harness.spec_for(request, rootless=True), path, None)
    rootful = compare_snapshot(
        snapshot, harness.spec_for(request, rootless=False), path, ROOTFUL_SNAPSHOT
    )
    if rootless is not None or rootful is not None:
        shown = [d.message for d in (rootless, rootful) if d is not None]
        if rootless is not None and rootful is not None and rootless.same_change(rootful):
            shown = [rootless.message, f"{rootful.location} (rootful) differs in the same way"]
        new = all(d.missing for d in (rootless, rootful) if d is not None)
        hint = NEW_SNAPSHOT_HINT if new else UPDATE_HINT
        pytest.fail("\n\n".join(shown) + f"\n\n{hint}", pytrace=False)
    harness.require_runc()
    outcome: BuildResult | BuildError
    try:
        outcome = harness.build(
            request,
            name=case.name,
            case=case,
            item=item,
            expect_failure=case.expect is not None and not case.expect.success,
        )
    except BuildError as exc:
        outcome = exc
    problems = check_case(case, request, outcome, harness)
    if problems:
        report = format_report(str(_relative(path)), problems)
        if isinstance(outcome, BuildResult):
            # the build ran but made the wrong thing: its logs help too
            attach_logs(item, outcome.stdout, outcome.stderr, None)
        elif outcome.bundle_path is not None:
            report += f"\nthe failed build's bundle is kept at {outcome.bundle_path}"
        pytest.fail(report, pytrace=False)


#: the last line of a snapshot mismatch
UPDATE_HINT = "Review the change; to accept it, run: pytest --snapshot-update"
#: the last line when a case has no snapshots yet
NEW_SNAPSHOT_HINT = (
    "To write the snapshots, run: pytest --snapshot-update (then review them like code)"
)


@dataclass(frozen=True, slots=True)
class SnapshotMismatch:
    """A spec that does not match its snapshot file: where, and how (a unified diff; ``hunks``
    are its lines without file names and line numbers, to spot the same change twice)."""

    location: Path
    message: str
    hunks: tuple[str, ...] = ()
    #: there is no snapshot file yet
    missing: bool = False

    def same_change(self, other: SnapshotMismatch) -> bool:
        return bool(self.hunks) and self.hunks == other.hunks


def compare_snapshot(
    snapshot: Any, spec: dict[str, Any], path: Path, name: str | None
) -> SnapshotMismatch | None:
    """Compare the normalized ``spec`` with the snapshot ``name`` (None: the case's own name);
    None when it matches (or was written by ``--snapshot-update``), else a readable message
    with a unified diff from the snapshot file to the spec the case makes now."""
    target = snapshot if name is None else snapshot(name=name)
    if target == normalize_spec(spec):
        return None
    mode = "rootless" if name is None else name
    case = _relative(path)
    result = snapshot.executions[snapshot.num_executions - 1]
    location = _relative(Path(result.snapshot_location))
    if result.exception is not None or not isinstance(result.asserted_data, str):
        details = "\n".join(snapshot.get_assert_diff())
        return SnapshotMismatch(
            location,
            f"{case}: cannot compare the {mode} config.json with {location}:\n{details}",
        )
    if result.recalled_data is None:
        return SnapshotMismatch(
            location,
            f"{case}: the {mode} config.json has no snapshot yet ({location} does not exist)",
            missing=True,
        )
    lines = [
        line if line.endswith("\n") else line + "\n"
        for line in difflib.unified_diff(
            str(result.recalled_data).splitlines(keepends=True),
            result.asserted_data.splitlines(keepends=True),
            fromfile=f"{location} (snapshot)",
            tofile=f"{case} ({mode} config.json now)",
        )
    ]
    diff = "".join(lines).rstrip("\n")
    return SnapshotMismatch(
        location,
        f"{case}: the {mode} config.json differs from its snapshot:\n{diff}",
        tuple(line for line in lines[2:] if not line.startswith("@@")),
    )


def _relative(path: Path) -> Path:
    """``path`` relative to the working directory when it is below it (shorter messages)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def check_case(
    case: Case, request: Any, outcome: BuildResult | BuildError, harness: SnixHarness
) -> list[str]:
    """Problems with ``outcome``; without ``[expect]`` a case must simply build."""
    if case.expect is None:
        if isinstance(outcome, BuildError):
            tail = outcome.stderr_tail or outcome.stdout_tail
            shown = f"\n--- last lines of the build's output ---\n{tail}" if tail else ""
            return [f"the build failed: {outcome.reason}{shown}"]
        return []
    return check_expectations(case.expect, request, outcome, harness.store)
