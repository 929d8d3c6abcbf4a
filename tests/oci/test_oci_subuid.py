"""Subordinate ids: snix's five parser cases, file errors, and the mappings of this process."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from pytest_snixbuild.errors import SnixError
from pytest_snixbuild.oci import IdMappings, host_id_mappings
from pytest_snixbuild.oci.errors import (
    MissingSubordinateEntryError,
    SubordinateFileError,
    SubordinateParseError,
)
from pytest_snixbuild.oci.subuid import (
    FALLBACK_SUBORDINATE_ID,
    IdMap,
    first_subordinate_id,
    read_first_subordinate_id,
)

F = Path("/etc/subuid")


def test_first_matching_name_wins_over_later_uid() -> None:
    lines = ["nobody:10000:65", "root:1000:2", "0:2:2"]
    assert first_subordinate_id(lines, path=F, name="root", uid=0) == 1000


def test_uid_matches_when_name_does_not() -> None:
    assert first_subordinate_id(["nobody:10000:65", "0:2:2"], path=F, name="root", uid=0) == 2


def test_no_entry_for_user() -> None:
    with pytest.raises(MissingSubordinateEntryError) as info:
        first_subordinate_id(["roots:1000:2", "1000:2:2"], path=F, name="root", uid=0)
    assert "'root'" in str(info.value) and "uid 0" in str(info.value)
    assert str(F) in str(info.value)


def test_parse_error_in_matching_line() -> None:
    with pytest.raises(SubordinateParseError) as info:
        first_subordinate_id(["root:hello:2"], path=F, name="root", uid=0)
    message = str(info.value)
    assert message.startswith("/etc/subuid:1: invalid start 'hello'")
    assert "root:hello:2" in message
    assert isinstance(info.value, SnixError)


def test_parse_error_in_other_users_line_is_ignored() -> None:
    lines = ["root:hello:2", "1000:2:2"]
    assert first_subordinate_id(lines, path=F, name="user", uid=1000) == 2


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["root:5:0", "root:7:1"], 7),  # a zero range is skipped
        (["  root:5:3  "], 5),  # lines are stripped
        (["root:5", "root:5:3:4", "root:9:1"], 9),  # not three fields: skipped
        (["root:+5:1"], 5),  # Rust's u32 parser accepts a leading '+'
        (["", "# comment", "root:4294967295:1"], 4294967295),
    ],
)
def test_parse_rules(lines: list[str], expected: int) -> None:
    assert first_subordinate_id(lines, path=F, name="root", uid=0) == expected


@pytest.mark.parametrize(
    ("line", "field"),
    [("root:4294967296:1", "start"), ("root: 5:1", "start"), ("root:5:-1", "count")],
)
def test_parse_errors(line: str, field: str) -> None:
    with pytest.raises(SubordinateParseError, match=f"invalid {field}"):
        first_subordinate_id(["x:1:1", line], path=F, name="root", uid=0)


def test_parse_error_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "subgid"
    f.write_text("alice:100000:65536\nroot:1:x\n")
    with pytest.raises(SubordinateParseError) as info:
        read_first_subordinate_id(f, name="root", uid=0)
    assert str(info.value).startswith(f"{f}:2: invalid count 'x' in line 'root:1:x'")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SubordinateFileError, match=r"cannot read .*nope: No such file"):
        read_first_subordinate_id(tmp_path / "nope", name="root", uid=0)


def _me() -> tuple[int, int, str]:
    return os.geteuid(), os.getegid(), pwd.getpwuid(os.geteuid()).pw_name


def test_mappings_from_files(tmp_path: Path) -> None:
    uid, gid, name = _me()
    (tmp_path / "subuid").write_text(f"other:1:1\n{name}:200000:65536\n")
    (tmp_path / "subgid").write_text(f"{uid}:300000:65536\n")
    mappings = host_id_mappings(
        rootless=True, subuid_path=tmp_path / "subuid", subgid_path=tmp_path / "subgid"
    )
    assert mappings == IdMappings(
        uid_map=(IdMap(0, uid), IdMap(1000, 200000)),
        gid_map=(IdMap(0, gid), IdMap(100, 300000)),
    )
    assert mappings.host_uid(1000) == 200000 and mappings.host_gid(100) == 300000
    assert mappings.host_uid(0) == uid and mappings.host_uid(999) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="the fallback is for root")
@pytest.mark.parametrize("rootless", [True, False])
def test_root_without_entries_falls_back(tmp_path: Path, rootless: bool) -> None:
    (tmp_path / "subuid").write_text("")  # this machine's /etc/subuid is empty too
    mappings = host_id_mappings(
        rootless=rootless, subuid_path=tmp_path / "subuid", subgid_path=tmp_path / "missing"
    )
    assert mappings.host_uid(1000) == FALLBACK_SUBORDINATE_ID
    assert mappings.host_gid(100) == FALLBACK_SUBORDINATE_ID
    assert mappings.host_uid(0) == 0


def test_non_root_rootless_without_entry_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "subuid").write_text("someone:1:1\n")
    nobody = pwd.getpwnam("nobody")
    monkeypatch.setattr(os, "geteuid", lambda: nobody.pw_uid)
    monkeypatch.setattr(os, "getegid", lambda: nobody.pw_gid)
    with pytest.raises(MissingSubordinateEntryError, match="no entry for user 'nobody'"):
        host_id_mappings(rootless=True, subuid_path=tmp_path / "subuid")
    # rootful: the mappings are not used by runc, so the fallback applies
    rootful = host_id_mappings(
        rootless=False, subuid_path=tmp_path / "subuid", subgid_path=tmp_path / "subuid"
    )
    assert rootful.host_uid(0) == nobody.pw_uid
    assert rootful.host_uid(1000) == FALLBACK_SUBORDINATE_ID


def test_parse_errors_are_not_hidden_by_the_fallback(tmp_path: Path) -> None:
    _, _, name = _me()
    (tmp_path / "subuid").write_text(f"{name}:oops:1\n")
    with pytest.raises(SubordinateParseError):
        host_id_mappings(rootless=False, subuid_path=tmp_path / "subuid")
