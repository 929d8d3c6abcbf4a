"""``build_image``: store paths from the castore -> a layered, reproducible OCI image layout.

The input is the image's whole closure: each :class:`ImageInput` is a store path, its castore
node and the store paths it refers to (every one of them must be an input too). The output
directory receives an OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/…``) and a
Docker ``manifest.json``; optionally the same directory is also written as a tar for
``docker load``. See docs/images.md.

The same inputs and options give byte-identical files, whatever ``workers`` is.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.errors import CastoreError
from pytest_snixbuild.castore.nodes import FileNode, Node, name_problem
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.image.errors import ImageInputError, ImageOptionError, LayerWriteError
from pytest_snixbuild.image.hashsink import LayerDigests
from pytest_snixbuild.image.layering import (
    DEFAULT_MAX_LAYERS,
    LayerGroup,
    LayeringPolicy,
    PathSpec,
    plan_layers,
)
from pytest_snixbuild.image.layout import (
    DOCKER_MANIFEST_FILE,
    INDEX_FILE,
    LayoutWriter,
    write_docker_archive,
)
from pytest_snixbuild.image.ocijson import (
    BLAKE3_ANNOTATION,
    MEDIA_CONFIG,
    MEDIA_LAYER_GZIP,
    ProcessConfig,
    Reference,
    default_image_name,
    descriptor,
    docker_manifest,
    image_config,
    image_index,
    image_manifest,
    parse_reference,
)
from pytest_snixbuild.image.symlinks import symlink_layer_entries
from pytest_snixbuild.image.tarlayer import components, write_entries, write_layer

#: the environment of an image when none is given
DEFAULT_ENV = ("PATH=/bin:/usr/bin",)
#: store paths named in a layer's history entry before "and N more"
HISTORY_NAMES = 4


@dataclass(frozen=True)
class ImageInput:
    """One store path of the image: where it is (absolute), what it is, what it refers to."""

    store_path: str
    node: Node
    references: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LayerResult:
    """One layer as written: its digests, sizes and the store paths in it."""

    kind: Literal["store", "symlinks"]
    #: sha256 of the gzip blob (the manifest's digest; the blob's file name)
    digest: str
    #: sha256 of the uncompressed tar (the config's diff_id)
    diff_id: str
    #: bytes of the gzip blob
    size: int
    #: bytes of the uncompressed tar
    tar_size: int
    #: BLAKE3 of the uncompressed tar (castore style)
    blake3: B3Digest
    #: the store paths in this layer, sorted (empty for the symlink layer)
    store_paths: tuple[str, ...]


@dataclass(frozen=True)
class ImageResult:
    """What :func:`build_image` wrote."""

    out_dir: Path
    reference: Reference
    manifest_digest: str
    manifest_size: int
    config_digest: str
    config_size: int
    layers: tuple[LayerResult, ...]
    docker_archive: Path | None = None

    @property
    def tag(self) -> str:
        return self.reference.tag


def check_store_path(store_path: str) -> None:
    """An absolute, normalised path of valid names (``/nix/store/<hash>-<name>``)."""
    if not store_path.startswith("/") or store_path == "/":
        raise ImageInputError(
            f"store path {store_path!r}: expected an absolute path such as /nix/store/<hash>-name"
        )
    for part in store_path[1:].split("/"):
        problem = name_problem(part.encode("utf-8", "surrogateescape"))
        if problem is not None:
            raise ImageInputError(
                f"store path {store_path!r}: component {part!r} is invalid ({problem}); expected "
                "a normalised absolute path"
            )


def check_inputs(inputs: Sequence[ImageInput]) -> None:
    """Valid, distinct, non-nested store paths."""
    if not inputs:
        raise ImageInputError("no store paths given: an image needs at least one")
    seen: set[tuple[bytes, ...]] = set()
    for item in inputs:
        check_store_path(item.store_path)
        parts = components(item.store_path)
        if parts in seen:
            raise ImageInputError(f"store path {item.store_path} is given twice")
        seen.add(parts)
    for parts in seen:
        for depth in range(1, len(parts)):
            if parts[:depth] in seen:
                inner = "/" + b"/".join(parts).decode(errors="replace")
                outer = "/" + b"/".join(parts[:depth]).decode(errors="replace")
                raise ImageInputError(
                    f"store path {inner} lies inside store path {outer}: expected separate paths"
                )


def own_size(node: Node, store: Store, store_path: str) -> int:
    """Bytes of file contents in a store path (what the layering weighs)."""
    try:
        return sum(n.size for _, n in store.walk(node) if isinstance(n, FileNode))
    except CastoreError as exc:
        raise LayerWriteError(f"cannot read {store_path} from the castore: {exc}") from exc


def top_level_paths(inputs: Sequence[ImageInput]) -> list[ImageInput]:
    """Inputs no other input refers to, in the given order (all of them if that is none)."""
    referred = {r for i in inputs for r in i.references if r != i.store_path}
    top = [i for i in inputs if i.store_path not in referred]
    return top or list(inputs)


def _history_line(group: LayerGroup) -> str:
    names = [p.rsplit("/", 1)[-1] for p in group.store_paths]
    shown = ", ".join(names[:HISTORY_NAMES])
    more = len(names) - HISTORY_NAMES
    return f"snixbuild image: {shown}" + (f" and {more} more" if more > 0 else "")


def _process_config(
    entrypoint: Sequence[str] | None,
    cmd: Sequence[str] | None,
    env: Sequence[str] | Mapping[str, str] | None,
    has_bin_sh: bool,
) -> ProcessConfig:
    for what, value in (("entrypoint", entrypoint), ("cmd", cmd)):
        if value is not None and (isinstance(value, str) or not value):
            raise ImageOptionError(f"{what} {value!r}: expected a non-empty list of strings")
    if isinstance(env, Mapping):
        env_list = tuple(f"{k}={v}" for k, v in sorted(env.items()))
    elif env is None:
        env_list = DEFAULT_ENV
    else:
        if isinstance(env, str):
            raise ImageOptionError(f"env {env!r}: expected a list of KEY=VALUE strings")
        env_list = tuple(env)
    for entry in env_list:
        if "=" not in entry or entry.startswith("="):
            raise ImageOptionError(f"env entry {entry!r}: expected KEY=VALUE")
    if entrypoint is None and cmd is None and has_bin_sh:
        cmd = ("/bin/sh",)
    return ProcessConfig(
        entrypoint=tuple(entrypoint) if entrypoint is not None else None,
        cmd=tuple(cmd) if cmd is not None else None,
        env=env_list,
    )


def build_image(
    inputs: Sequence[ImageInput],
    store: Store,
    out_dir: Path,
    *,
    tag: str = "latest",
    max_layers: int = DEFAULT_MAX_LAYERS,
    entrypoint: Sequence[str] | None = None,
    cmd: Sequence[str] | None = None,
    env: Sequence[str] | Mapping[str, str] | None = None,
    symlink_layer: bool = True,
    architecture: str = "amd64",
    os: str = "linux",
    workers: int = 2,
    policy: LayeringPolicy | None = None,
    docker_archive: Path | None = None,
) -> ImageResult:
    """Write the image of ``inputs`` (a closed set of store paths) to ``out_dir``.

    ``tag`` is ``TAG`` or ``NAME:TAG`` (the name defaults to the first top-level path's name);
    the index annotates the manifest with ``org.opencontainers.image.ref.name = TAG`` and
    ``manifest.json`` lists ``NAME:TAG``. At most ``max_layers`` layers are written, the symlink
    layer included. ``env`` defaults to ``PATH=/bin:/usr/bin``; without ``entrypoint`` and
    ``cmd``, ``Cmd`` is ``/bin/sh`` when the symlink layer has one. ``docker_archive`` also writes
    the layout as a tar for ``docker load``.
    """
    check_inputs(inputs)
    budget = max_layers - (1 if symlink_layer else 0)
    if budget < 1:
        raise ImageOptionError(
            f"max_layers is {max_layers}: expected at least {2 if symlink_layer else 1} "
            f"({'one store layer and the symlink layer' if symlink_layer else 'one layer'})"
        )
    if workers < 1:
        raise ImageOptionError(f"workers is {workers}: expected at least 1")
    if docker_archive is not None and (docker_archive.exists() or docker_archive.is_symlink()):
        raise ImageOptionError(f"docker archive {docker_archive} exists: expected a new file name")
    top = top_level_paths(inputs)
    reference = parse_reference(tag, default_image_name(top[0].store_path))
    nodes = {i.store_path: i.node for i in inputs}
    specs = [
        PathSpec(i.store_path, own_size(i.node, store, i.store_path), frozenset(i.references))
        for i in inputs
    ]
    groups = plan_layers(specs, budget, policy)
    links = (
        symlink_layer_entries([(i.store_path, i.node) for i in top], sorted(nodes.items()), store)
        if symlink_layer
        else []
    )
    process = _process_config(entrypoint, cmd, env, any(e.path == b"bin/sh" for e in links))

    with LayoutWriter(out_dir) as layout:
        cancel = threading.Event()  # set on the first failure or Ctrl-C: the others stop early
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="layer") as pool:
            jobs: list[tuple[Path, Future[LayerDigests]]] = []
            try:
                for group in groups:
                    dest = layout.layer_tmp_path()
                    members = [(p, nodes[p]) for p in group.store_paths]
                    jobs.append((dest, pool.submit(write_layer, members, store, dest, cancel)))
                if symlink_layer:
                    dest = layout.layer_tmp_path()
                    jobs.append((dest, pool.submit(write_entries, links, dest, cancel)))
                futures = [job for _, job in jobs]
                wait(futures, return_when=FIRST_EXCEPTION)
                for future in futures:  # the first failure, in layer order, stops the rest
                    if future.done() and future.exception() is not None:
                        raise future.exception()  # type: ignore[misc]
                written = [future.result() for future in futures]
            except BaseException:
                cancel.set()
                for _, job in jobs:
                    job.cancel()
                raise
        for (dest, _), digests in zip(jobs, written, strict=True):
            layout.adopt_layer(dest, digests)

        results = [
            LayerResult("store", d.digest, d.diff_id, d.size, d.tar_size, d.blake3, g.store_paths)
            for g, d in zip(groups, written[: len(groups)], strict=True)
        ]
        history = [_history_line(g) for g in groups]
        if symlink_layer:
            d = written[-1]
            results.append(
                LayerResult("symlinks", d.digest, d.diff_id, d.size, d.tar_size, d.blake3, ())
            )
            history.append("snixbuild image: symlink layer (/bin, /tmp, /usr/bin/env)")

        config = image_config(
            architecture=architecture,
            os=os,
            diff_ids=[r.diff_id for r in results],
            history=history,
            process=process,
        )
        config_digest, config_size = layout.put_json(config)
        manifest = image_manifest(
            descriptor(MEDIA_CONFIG, config_digest, config_size),
            [
                descriptor(MEDIA_LAYER_GZIP, r.digest, r.size, {BLAKE3_ANNOTATION: str(r.blake3)})
                for r in results
            ],
        )
        manifest_digest, manifest_size = layout.put_json(manifest)
        layout.write_json(
            INDEX_FILE,
            image_index(
                descriptor(manifest["mediaType"], manifest_digest, manifest_size),
                tag=reference.tag,
                architecture=architecture,
                os=os,
            ),
        )
        layout.write_layout_file()
        layout.write_json(
            DOCKER_MANIFEST_FILE,
            docker_manifest(config_digest, [r.digest for r in results], [str(reference)]),
        )
        final = layout.commit()

    archive = write_docker_archive(final, docker_archive) if docker_archive is not None else None
    return ImageResult(
        out_dir=final,
        reference=reference,
        manifest_digest=manifest_digest,
        manifest_size=manifest_size,
        config_digest=config_digest,
        config_size=config_size,
        layers=tuple(results),
        docker_archive=archive,
    )
