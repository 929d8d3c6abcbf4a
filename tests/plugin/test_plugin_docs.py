"""The examples of docs/tutorial.md and docs/plugin.md are real: their files are taken from the
pages (blocks after ``<!-- file: PATH -->``), put into a project and run, and the outputs the
pages show (blocks after ``<!-- output: NAME -->``) must appear in the real output, line by line
and in order (times, temporary paths and the runc version may differ)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from snix_plugin_helpers import run

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"<!-- (file|edit|output|snapshot): (\S+) -->\n```\w*\n(.*?)```", re.S)
#: parts of an output line that change from run to run or machine to machine
VARIABLE = re.compile(r"\d+\.\d+s\b|/tmp/\S*|runc version \S+")


@dataclass(frozen=True)
class Block:
    kind: str  # file, edit, output or snapshot
    name: str
    text: str


def blocks(page: str) -> list[Block]:
    return [Block(*m.groups()) for m in BLOCK.finditer((DOCS / page).read_text())]


def block(page: str, kind: str, name: str) -> str:
    [found] = [b.text for b in blocks(page) if (b.kind, b.name) == (kind, name)]
    return found


def write_files(pytester: pytest.Pytester, page: str, kind: str = "file") -> None:
    """Write every ``kind`` block of ``page``; blocks naming the same file are concatenated."""
    written: set[str] = set()
    for b in blocks(page):
        if b.kind != kind:
            continue
        path = pytester.path / b.name
        path.parent.mkdir(parents=True, exist_ok=True)
        previous = path.read_text() if b.name in written else ""
        path.write_text(previous + ("\n\n" if previous else "") + b.text)
        written.add(b.name)


def _pattern(line: str) -> re.Pattern[str]:
    parts, pos = [], 0
    for match in VARIABLE.finditer(line):
        parts += [re.escape(line[pos : match.start()]), ".*"]
        pos = match.end()
    parts.append(re.escape(line[pos:]))
    return re.compile("".join(parts) + "$")


#: a line of the "slowest builds" list: their order depends on the timings
SLOW_BUILD = re.compile(r"^\s+\d+\.\d+s  ")


def assert_shown(shown: str, actual: list[str]) -> None:
    """Each line of ``shown`` (but ``...``) matches a line of ``actual``, in order (the slowest
    builds in any order); runs of blanks count as one."""
    lines = [" ".join(line.split()) for line in actual]
    for line in shown.splitlines():
        if SLOW_BUILD.match(line):
            pattern = _pattern(" ".join(line.split()))
            assert any(pattern.match(actual_line) for actual_line in lines), line
    at = 0
    for line in shown.splitlines():
        if line.strip() in ("...", "") or SLOW_BUILD.match(line):
            continue
        pattern = _pattern(" ".join(line.split()))
        while at < len(lines) and not pattern.match(lines[at]):
            at += 1
        assert at < len(lines), f"not in the output (in this order): {line!r}\n" + "\n".join(actual)
        at += 1


@pytest.mark.snix_runc
def test_tutorial(pytester: pytest.Pytester) -> None:
    page = "tutorial.md"
    pytester.makepyprojecttoml(block(page, "file", "pyproject.toml"))
    (pytester.mkdir("cases") / "hello.toml").write_text(block(page, "file", "cases/hello.toml"))

    # 4. the first run: no snapshots yet
    result = run(pytester, "--snix-runc")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert_shown(block(page, "output", "first-run"), result.stdout.lines)

    # 5. accept them; the snapshot holds the command
    result = run(pytester, "--snix-runc", "--snapshot-update")
    assert result.ret == pytest.ExitCode.OK
    assert_shown(block(page, "output", "update"), result.stdout.lines)
    snapshot = block(page, "snapshot", "cases/__snapshots__/hello/hello.json")
    assert_shown(
        snapshot, (pytester.path / "cases/__snapshots__/hello/hello.json").read_text().splitlines()
    )
    assert run(pytester, "--snix-runc").ret == pytest.ExitCode.OK

    # 6. change the case: a diff, then accepted
    case = pytester.path / "cases" / "hello.toml"
    case.write_text(block(page, "edit", "cases/hello.toml"))
    result = run(pytester, "--snix-runc")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert_shown(block(page, "output", "changed"), result.stdout.lines)
    result = run(pytester, "--snix-runc", "--snapshot-update")
    result.stdout.fnmatch_lines(["2 snapshots updated."])
    assert run(pytester, "--snix-runc").ret == pytest.ExitCode.OK

    # 7. a wrong expectation
    case.write_text(case.read_text().replace('"hello world\\n"', '"hello, world\\n"'))
    result = run(pytester, "--snix-runc")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert_shown(block(page, "output", "wrong-output"), result.stdout.lines)

    # 8. the Python test, next to the (fixed) case
    case.write_text(block(page, "edit", "cases/hello.toml"))
    test = pytester.mkdir("tests") / "test_hello.py"
    test.write_text(block(page, "file", "tests/test_hello.py"))
    result = run(pytester, "--snix-runc")
    result.assert_outcomes(passed=3)
    assert_shown(block(page, "output", "python"), result.stdout.lines)


@pytest.mark.snix_runc
def test_plugin_page_example_project(pytester: pytest.Pytester) -> None:
    page = "plugin.md"
    write_files(pytester, page)

    # the project passes (its pyproject.toml turns on --snix-runc and --snix-strict)
    result = run(pytester, "--snapshot-update")
    result.assert_outcomes(passed=11)
    result = run(pytester)
    result.assert_outcomes(passed=11)
    assert_shown(block(page, "output", "example-run"), result.stdout.lines)
    hello = (pytester.path / "cases/__snapshots__/hello/hello.json").read_text()
    assert '"org.example.suite": "docs"' in hello
    assert '"SOURCE_DATE_EPOCH=0"' in hello
    builds = (pytester.path / "builds.jsonl").read_text().splitlines()
    assert '{"case": "epoch", "ok": true}' in builds
    assert '{"case": null, "ok": false}' in builds

    # a failing case, its bundle kept
    run(pytester, "--snapshot-update", "failing/broken.toml")
    result = run(pytester, "--snix-keep-failed", "failing/broken.toml")
    result.assert_outcomes(failed=1)
    assert_shown(block(page, "output", "kept-bundle"), result.stdout.lines)

    # a deleted case leaves an orphan, reported and then deleted
    (pytester.path / "cases" / "epoch.toml").unlink()
    result = run(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert_shown(block(page, "output", "orphans"), result.stdout.lines)
    result = run(pytester, "--snapshot-update")
    assert result.ret == pytest.ExitCode.OK
    assert_shown(block(page, "output", "orphans-deleted"), result.stdout.lines)
