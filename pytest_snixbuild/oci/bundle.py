"""The bundle directory ``runc`` runs, and where each output appears on the host.

Layout (as snix's ``make_bundle``, plus the ``/etc`` files Nix writes)::

    <bundle>/config.json              the spec, compact JSON
    <bundle>/inputs/                  the FUSE mountpoint for the request's inputs
    <bundle>/root/etc/{passwd,group,hosts}
    <bundle>/scratch/<scratch_name>/  one per scratch path; additional files go under ``build``

Ownership: when this process is root, every scratch directory (and the additional files in it)
is chowned to the host ids of the build user (uid 1000/gid 100 in the container): through the
spec's uid/gid mappings when it has a user namespace, else 1000/100 themselves. Without that a
rootful build (no capabilities but AUDIT_WRITE and KILL) could not write its outputs. As a
non-root user the directories stay owned by that user, which is container root in a rootless
build, and the build user writes through its CAP_DAC_OVERRIDE as in snix.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_snixbuild.castore.nodes import SymlinkNode
from pytest_snixbuild.oci.errors import BundleError, OutputPathError
from pytest_snixbuild.oci.etc_files import etc_files
from pytest_snixbuild.oci.scratch import scratch_location, scratch_name, symlink_input_locations
from pytest_snixbuild.oci.spec import INPUTS_DIR, ROOT_DIR, SCRATCH_DIR, absolute
from pytest_snixbuild.request.model import AdditionalFile, BuildRequest

CONFIG_NAME = "config.json"
#: the scratch path that receives additional files (snix's hack, TODO #152 upstream)
BUILD_SCRATCH = "build"
DIR_MODE = 0o755
FILE_MODE = 0o644
#: the bundle directory itself: only its owner may enter it. A rootless build's container root
#: is host root, so the build can leave setuid-root files in its scratch directories; no other
#: host user may reach them (rootful builds can leave setuid files of the build user).
BUNDLE_MODE = 0o700


@dataclass(frozen=True)
class Bundle:
    """A bundle on disk: its directory, the files in it, and one host dir per scratch path."""

    path: Path
    config_path: Path
    inputs_dir: Path
    root_dir: Path
    #: scratch path (as in the request) → its host directory
    scratch_dirs: dict[str, Path]


def _additional_file_parts(file: AdditionalFile) -> list[str]:
    """The path of ``file`` below the build scratch dir, checked like snix (and kept inside)."""
    parts = file.path.split("/")
    if len(parts) < 2 or parts[0] != BUILD_SCRATCH:
        raise BundleError(
            f"Additional files must start with build/: additional_files path {file.path!r} "
            f"(expected 'build/<name>')"
        )
    rest = parts[1:]
    if any(p in ("", ".", "..") for p in rest):
        raise BundleError(
            f"additional_files path {file.path!r} is not a clean relative path: "
            "expected components that are neither empty nor '.' or '..'"
        )
    return rest


def build_user_host_ids(spec: Mapping[str, Any]) -> tuple[int, int]:
    """The host uid and gid the spec's ``process.user`` runs as."""
    try:
        uid = int(spec["process"]["user"]["uid"])
        gid = int(spec["process"]["user"]["gid"])
        linux = spec.get("linux", {})
        userns = any(ns.get("type") == "user" for ns in linux.get("namespaces", []))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(
            f"the spec has no usable process.user ({exc!r}): expected process.user.uid and .gid"
        ) from None
    if not userns:
        return uid, gid
    try:
        host_uid = _map_id(linux.get("uidMappings", []), uid)
        host_gid = _map_id(linux.get("gidMappings", []), gid)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(
            f"the spec's linux.uidMappings/gidMappings are malformed ({exc!r}): expected "
            "objects with hostID, containerID and size"
        ) from None
    if host_uid is None or host_gid is None:
        raise BundleError(
            f"the spec runs the build as {uid}:{gid} in a user namespace, but "
            f"linux.uidMappings/gidMappings do not map it: expected a mapping for both ids"
        )
    return host_uid, host_gid


def _map_id(mappings: Sequence[Mapping[str, Any]], container_id: int) -> int | None:
    for m in mappings:
        start, size = int(m["containerID"]), int(m["size"])
        if start <= container_id < start + size:
            return int(m["hostID"]) + container_id - start
    return None


def _chown_tree(top: Path, uid: int, gid: int) -> None:
    os.chown(top, uid, gid)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, gid)


def _write_additional_files(
    build_dir: Path, files: Sequence[tuple[AdditionalFile, list[str]]]
) -> None:
    for file, parts in files:
        target = build_dir.joinpath(*parts)
        try:
            for parent in reversed(target.relative_to(build_dir).parents):
                d = build_dir / parent
                if not d.is_dir():
                    d.mkdir(mode=DIR_MODE)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
            with os.fdopen(fd, "wb") as out:
                out.write(file.contents)
        except OSError as exc:
            raise BundleError(
                f"cannot write additional file {file.path!r} into the bundle: {exc.strerror or exc}"
            ) from exc


def make_bundle(request: BuildRequest, spec: Mapping[str, Any], path: Path) -> Bundle:
    """Write the bundle for ``request`` and ``spec`` at ``path`` (created; must be absent or empty).

    The directory gets mode 0700 (:data:`BUNDLE_MODE`). On any error it is removed again if this
    call created it.
    """
    path = Path(path)
    extra: list[tuple[AdditionalFile, list[str]]] = []
    if BUILD_SCRATCH in request.scratch_paths:
        extra = [(f, _additional_file_parts(f)) for f in request.additional_files]
    owner = build_user_host_ids(spec) if os.geteuid() == 0 else None
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BundleError(f"bundle directory {path} already exists and is not empty")
    created = not path.exists()
    try:
        return _write_bundle(request, spec, path, extra, owner)
    except BaseException:
        if created:
            shutil.rmtree(path, ignore_errors=True)
        raise


def _write_bundle(
    request: BuildRequest,
    spec: Mapping[str, Any],
    path: Path,
    extra: Sequence[tuple[AdditionalFile, list[str]]],
    owner: tuple[int, int] | None,
) -> Bundle:
    path.mkdir(mode=BUNDLE_MODE, parents=True, exist_ok=True)
    path.chmod(BUNDLE_MODE)  # also when it existed (empty), whatever the umask
    config_path = path / CONFIG_NAME
    config = json.dumps(spec, separators=(",", ":"), ensure_ascii=False)
    config_path.write_text(config, encoding="utf-8")
    inputs_dir = path / INPUTS_DIR
    inputs_dir.mkdir(mode=DIR_MODE)
    root_dir = path / ROOT_DIR
    (root_dir / "etc").mkdir(mode=DIR_MODE, parents=True)
    for name, text in etc_files(absolute(request.working_dir)).items():
        file = root_dir / "etc" / name
        file.write_text(text, encoding="utf-8")
        file.chmod(FILE_MODE)
    (path / SCRATCH_DIR).mkdir(mode=DIR_MODE)
    scratch_dirs: dict[str, Path] = {}
    for scratch_path in request.scratch_paths:
        host_dir = path / SCRATCH_DIR / scratch_name(scratch_path)
        host_dir.mkdir(mode=DIR_MODE, exist_ok=True)
        if scratch_path == BUILD_SCRATCH:
            _write_additional_files(host_dir, extra)
        _write_symlink_inputs(request, scratch_path, host_dir)
        if owner is not None:
            _chown_tree(host_dir, *owner)
        scratch_dirs[scratch_path] = host_dir
    return Bundle(
        path=path,
        config_path=config_path,
        inputs_dir=inputs_dir,
        root_dir=root_dir,
        scratch_dirs=scratch_dirs,
    )


def _write_symlink_inputs(request: BuildRequest, scratch_path: str, host_dir: Path) -> None:
    """Create the symlink inputs that live in this scratch directory (see
    :func:`~pytest_snixbuild.oci.scratch.symlink_input_locations`)."""
    for name, (where, rest) in symlink_input_locations(request).items():
        if where != scratch_path:
            continue
        node = request.inputs[name]
        assert isinstance(node, SymlinkNode)
        link = host_dir.joinpath(*rest)
        link.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.symlink(node.target, link)


def host_output_paths(request: BuildRequest, bundle_path: Path) -> dict[str, Path]:
    """Output path (as in the request) → where it appears on the host, in output order.

    For each output the scratch paths are searched from last to first, and the first one that is
    a component-wise prefix wins (``nix/sto`` is no prefix of ``nix/store/x``). That is the mount
    that is on top in the container: runc mounts scratch paths in request order. For a valid
    request (scratch paths sorted) it is also the longest matching prefix.
    """
    result: dict[str, Path] = {}
    for output in request.outputs:
        where = scratch_location(request.scratch_paths, output)
        if where is None:
            raise OutputPathError(
                f"unable to find path {output!r} under any scratch path "
                f"(scratch_paths = {list(request.scratch_paths)!r}): every output must lie "
                "below one of the request's scratch paths"
            )
        scratch_path, rest = where
        result[output] = Path(bundle_path, SCRATCH_DIR, scratch_name(scratch_path)).joinpath(*rest)
    return result
