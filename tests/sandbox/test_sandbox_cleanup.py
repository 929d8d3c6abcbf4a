"""Cleanup after a hostile build, without runc: the bundle removal's fallback path (taken when a
non-root engine cannot delete what the build left read-only) must not trip over, or follow, a
symlink the build made."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from pytest_snixbuild.engine.service import remove_bundle


def test_remove_bundle_fallback_skips_symlinks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o755)
    bundle = tmp_path / "bundle"
    locked = bundle / "scratch" / "out"
    locked.mkdir(parents=True)
    (locked / "to-outside").symlink_to(outside)
    (locked / "file").write_text("x")
    locked.chmod(0o555)
    real_rmtree = shutil.rmtree
    calls: list[Path] = []

    def rmtree_failing_once(path: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(Path(path))
        if len(calls) == 1:  # as a non-root engine would: EACCES below the 0555 directory
            raise PermissionError(13, "Permission denied", str(locked / "file"))
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", rmtree_failing_once)
    remove_bundle(bundle)
    assert calls == [bundle, bundle]
    assert not bundle.exists()
    assert outside.is_dir() and oct(outside.stat().st_mode & 0o777) == "0o755"
