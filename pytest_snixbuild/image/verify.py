"""An independent check of an OCI image layout on disk: index -> manifest -> config -> layers.

:func:`verify_layout` checks what umoci, skopeo and oci-image-tool check between them, and more:

* ``oci-layout`` and ``index.json`` exist and say what they must; the manifest is found by its
  ``org.opencontainers.image.ref.name`` (or is the only one);
* every referenced blob exists under ``blobs/<alg>/<hex>``, has the descriptor's size (checked
  before hashing) and hashes to its digest; digests are lowercase ``sha256:<64 hex>``;
* media types: manifest, config, and layers (a ``+gzip`` layer must be gzip, a plain one a tar);
* ``rootfs.diff_ids`` has one entry per layer and each is the SHA-256 of the uncompressed tar;
  each layer is a readable tar without duplicate or escaping paths; history matches the layers;
* the Docker ``manifest.json``, when present, names the same config and layers.

Each layer is read once: the raw bytes, the decompressed bytes and the tar parser are chained
streams. With ``schema_check`` every JSON document is also checked against the image-spec schema.
All problems are collected and raised together as :class:`LayoutVerifyError`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pytest_snixbuild.image.errors import LayoutVerifyError
from pytest_snixbuild.image.ocijson import (
    LAYOUT_VERSION,
    MEDIA_CONFIG,
    MEDIA_LAYER_GZIP,
    MEDIA_LAYER_TAR,
    MEDIA_MANIFEST,
    REF_NAME,
    blob_path,
)
from pytest_snixbuild.image.schema import DocumentKind, SchemaCheck

SHA256_RE = re.compile(r"sha256:[a-f0-9]{64}")
#: JSON blobs larger than this are not read (a manifest or config is a few KiB)
MAX_JSON_BLOB = 16 << 20
CHUNK = 1 << 20


@dataclass(frozen=True)
class VerifiedLayer:
    digest: str
    diff_id: str
    size: int
    tar_size: int
    entries: int


@dataclass(frozen=True)
class VerifiedImage:
    layout: Path
    tag: str | None
    manifest_digest: str
    config_digest: str
    layers: tuple[VerifiedLayer, ...]


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class _HashingReader:
    """A read-only stream that hashes (SHA-256) and counts whatever is read through it."""

    def __init__(self, raw: _Readable) -> None:
        self._raw = raw
        self.sha = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1, /) -> bytes:
        data = self._raw.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, /) -> int:
        raise OSError("a verified stream cannot seek")

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


class _Verifier:
    def __init__(self, layout: Path, schema_check: SchemaCheck | None) -> None:
        self.layout = layout
        self.schema_check = schema_check
        self.problems: list[str] = []

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def schema(self, kind: DocumentKind, where: str, document: Any) -> None:
        if self.schema_check is not None:
            for error in self.schema_check(kind, document):
                self.problem(f"{where}: schema: {error}")

    def load_json_file(self, name: str) -> Any:
        path = self.layout / name
        try:
            return json.loads(path.read_bytes())
        except FileNotFoundError:
            self.problem(f"{name} is missing")
        except (OSError, ValueError) as exc:
            self.problem(f"{name} is not valid JSON: {exc}")
        return None

    def blob_file(self, where: str, desc: Any) -> tuple[Path, int, str] | None:
        """The blob a descriptor names, after checking the descriptor and the file's size."""
        if not isinstance(desc, dict):
            self.problem(f"{where}: expected a descriptor object, got {desc!r}")
            return None
        digest, size = desc.get("digest"), desc.get("size")
        if not isinstance(digest, str) or not SHA256_RE.fullmatch(digest):
            self.problem(f"{where}: digest {digest!r} is not sha256:<64 lowercase hex>")
            return None
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            self.problem(f"{where}: size {size!r} is not a non-negative integer")
            return None
        path = self.layout / blob_path(digest)
        if not path.is_file():
            self.problem(f"{where}: blob {digest} is missing ({blob_path(digest)})")
            return None
        actual = path.stat().st_size
        if actual != size:
            self.problem(f"{where}: blob {digest} has {actual} bytes, the descriptor says {size}")
            return None
        return path, size, digest

    def json_blob(self, where: str, desc: Any, media_type: str) -> Any:
        found = self.blob_file(where, desc)
        if found is None:
            return None
        path, size, digest = found
        if desc.get("mediaType") != media_type:
            self.problem(f"{where}: mediaType {desc.get('mediaType')!r}, expected {media_type!r}")
        if size > MAX_JSON_BLOB:
            self.problem(f"{where}: {size} bytes is too large for a JSON document")
            return None
        data = path.read_bytes()
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != digest:
            self.problem(f"{where}: blob {digest} hashes to {actual} (digest mismatch)")
            return None
        try:
            return json.loads(data)
        except ValueError as exc:
            self.problem(f"{where}: blob {digest} is not valid JSON: {exc}")
            return None

    def layer(self, where: str, desc: Any, diff_id: Any) -> VerifiedLayer | None:
        found = self.blob_file(where, desc)
        if found is None:
            return None
        path, size, digest = found
        media = desc.get("mediaType")
        if media not in (MEDIA_LAYER_GZIP, MEDIA_LAYER_TAR):
            self.problem(
                f"{where}: mediaType {media!r}, expected {MEDIA_LAYER_GZIP!r} or "
                f"{MEDIA_LAYER_TAR!r}"
            )
            return None
        with path.open("rb") as f:
            raw = _HashingReader(f)
            entries = 0
            tar_reader = raw
            try:
                if media == MEDIA_LAYER_GZIP:
                    tar_reader = _HashingReader(gzip.GzipFile(fileobj=raw, mode="rb"))
                entries = self.tar_members(where, tar_reader)
                tar_reader.drain()
            except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
                self.problem(f"{where}: blob {digest} is not a valid {media}: {exc}")
                return None
            raw.drain()
        if raw.digest != digest:
            self.problem(f"{where}: blob {digest} hashes to {raw.digest} (digest mismatch)")
        if tar_reader.digest != diff_id:
            self.problem(
                f"{where}: diff_id mismatch: the uncompressed tar hashes to {tar_reader.digest}, "
                f"the config says {diff_id}"
            )
        return VerifiedLayer(digest, tar_reader.digest, size, tar_reader.size, entries)

    def tar_members(self, where: str, reader: _HashingReader) -> int:
        names: set[str] = set()
        count = 0
        with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            for member in tar:
                count += 1
                name = member.name
                while name.startswith("./"):
                    name = name[2:]
                name = name.rstrip("/")
                if name.startswith("/") or ".." in name.split("/"):
                    self.problem(f"{where}: tar member {member.name!r} escapes the root")
                if name in names:
                    self.problem(f"{where}: tar member {name!r} appears twice")
                names.add(name)
        return count


def _select_manifest(v: _Verifier, index: Any, tag: str | None) -> tuple[str, Any] | None:
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list):
        v.problem("index.json: 'manifests' is not a list")
        return None
    if tag is None:
        if len(manifests) != 1:
            v.problem(f"index.json has {len(manifests)} manifests: name a tag to choose one")
            return None
        return "index.json manifests[0]", manifests[0]
    chosen = [
        (i, m)
        for i, m in enumerate(manifests)
        if isinstance(m, dict) and (m.get("annotations") or {}).get(REF_NAME) == tag
    ]
    if len(chosen) != 1:
        v.problem(
            f"index.json: {len(chosen)} manifests have {REF_NAME} = {tag!r}, expected exactly one"
        )
        return None
    i, m = chosen[0]
    return f"index.json manifests[{i}]", m


def _check_docker_manifest(v: _Verifier, config_digest: str, layer_digests: list[str]) -> None:
    if not (v.layout / "manifest.json").exists():
        return
    docker = v.load_json_file("manifest.json")
    if not isinstance(docker, list) or not docker or not isinstance(docker[0], dict):
        v.problem("manifest.json: expected a list of {Config, RepoTags, Layers} objects")
        return
    item = docker[0]
    if item.get("Config") != blob_path(config_digest):
        v.problem(
            f"manifest.json: Config {item.get('Config')!r}, expected {blob_path(config_digest)!r}"
        )
    expected = [blob_path(d) for d in layer_digests]
    if item.get("Layers") != expected:
        v.problem(f"manifest.json: Layers {item.get('Layers')!r}, expected {expected!r}")
    tags = item.get("RepoTags")
    if not isinstance(tags, list) or not all(isinstance(t, str) and ":" in t for t in tags):
        v.problem(f"manifest.json: RepoTags {tags!r}, expected a list of 'name:tag' strings")


def verify_layout(
    layout: Path, tag: str | None = None, *, schema_check: SchemaCheck | None = None
) -> VerifiedImage:
    """Check the image tagged ``tag`` (or the only image) of ``layout``; raise
    :class:`LayoutVerifyError` listing every problem found."""
    layout = Path(layout)
    v = _Verifier(layout, schema_check)
    header = v.load_json_file("oci-layout")
    if header is not None:
        v.schema("oci-layout", "oci-layout", header)
        if not isinstance(header, dict) or header.get("imageLayoutVersion") != LAYOUT_VERSION:
            v.problem(f"oci-layout: expected imageLayoutVersion {LAYOUT_VERSION!r}")
    if not (layout / "blobs").is_dir():
        v.problem("blobs/ is missing")
    index = v.load_json_file("index.json")
    chosen = None
    if index is not None:
        v.schema("index", "index.json", index)
        if not isinstance(index, dict) or index.get("schemaVersion") != 2:
            v.problem("index.json: schemaVersion is not 2")
        chosen = _select_manifest(v, index, tag)
    layers: list[VerifiedLayer] = []
    manifest_digest = config_digest = ""
    if chosen is not None:
        where, desc = chosen
        manifest = v.json_blob(where, desc, MEDIA_MANIFEST)
        manifest_digest = str(desc.get("digest")) if isinstance(desc, dict) else ""
        if isinstance(manifest, dict):
            v.schema("manifest", f"manifest {manifest_digest}", manifest)
            if manifest.get("mediaType", MEDIA_MANIFEST) != MEDIA_MANIFEST:
                v.problem(f"manifest: mediaType {manifest.get('mediaType')!r}")
            config_desc = manifest.get("config")
            config = v.json_blob("manifest config", config_desc, MEDIA_CONFIG)
            if isinstance(config_desc, dict):
                config_digest = str(config_desc.get("digest"))
            layer_descs = manifest.get("layers")
            if not isinstance(layer_descs, list):
                layer_descs = []
                v.problem("manifest: 'layers' is not a list")
            if isinstance(config, dict):
                v.schema("config", f"config {config_digest}", config)
                rootfs = config.get("rootfs") or {}
                diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
                if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
                    v.problem("config: rootfs.type is not 'layers'")
                if not isinstance(diff_ids, list) or len(diff_ids) != len(layer_descs):
                    v.problem(
                        f"config: rootfs.diff_ids has {len(diff_ids or [])} entries, the "
                        f"manifest {len(layer_descs)} layers"
                    )
                    diff_ids = [None] * len(layer_descs)
                history = config.get("history")
                if isinstance(history, list):
                    real = [
                        h for h in history if not (isinstance(h, dict) and h.get("empty_layer"))
                    ]
                    if len(real) != len(layer_descs):
                        v.problem(
                            f"config: history has {len(real)} non-empty entries for "
                            f"{len(layer_descs)} layers"
                        )
                for i, (desc_i, diff_id) in enumerate(zip(layer_descs, diff_ids, strict=True)):
                    checked = v.layer(f"manifest layers[{i}]", desc_i, diff_id)
                    if checked is not None:
                        layers.append(checked)
                _check_docker_manifest(
                    v,
                    config_digest,
                    [str(d.get("digest")) for d in layer_descs if isinstance(d, dict)],
                )
    if v.problems:
        raise LayoutVerifyError(str(layout), v.problems)
    return VerifiedImage(layout, tag, manifest_digest, config_digest, tuple(layers))
