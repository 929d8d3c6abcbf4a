"""The JSON documents of an image, as pure functions: config, manifest, index, Docker manifest.

Every document is serialised canonically (:func:`canonical_json`: keys sorted, no whitespace,
UTF-8), so equal inputs give equal bytes and equal digests.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_snixbuild.image.errors import ImageOptionError

LAYOUT_VERSION = "1.0.0"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
REF_NAME = "org.opencontainers.image.ref.name"
#: annotation of a layer descriptor: the BLAKE3 of the uncompressed tar, castore style
BLAKE3_ANNOTATION = "dev.snixbuild.layer.tar.blake3"
#: the "created" time of every image and history entry: the epoch, for reproducibility
EPOCH = "1970-01-01T00:00:00Z"

#: Docker's tag grammar
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = r"(?:" + _LABEL + r"(?:\." + _LABEL + r")*(?::[0-9]+)?/)?"
#: Docker's repository name grammar (optional registry domain, lowercase path components)
NAME_RE = re.compile(_DOMAIN + _COMPONENT + r"(?:/" + _COMPONENT + r")*")


def canonical_json(value: Any) -> bytes:
    """``value`` as compact JSON with sorted keys, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Reference:
    """An image name and tag, as Docker's ``RepoTags`` entry ``name:tag``."""

    name: str
    tag: str

    def __str__(self) -> str:
        return f"{self.name}:{self.tag}"


def parse_reference(text: str, default_name: str) -> Reference:
    """``NAME:TAG`` or ``TAG`` (then the name is ``default_name``), checked against Docker's
    grammar so that ``docker load`` accepts the archive."""
    name, tag = default_name, text
    colon = text.rfind(":")
    if colon >= 0 and "/" not in text[colon:]:
        name, tag = text[:colon], text[colon + 1 :]
    elif "/" in text:
        raise ImageOptionError(f"tag {text!r}: expected NAME:TAG or TAG, e.g. 'hello:latest'")
    if not TAG_RE.fullmatch(tag):
        raise ImageOptionError(
            f"tag {tag!r} (from {text!r}): expected 1 to 128 of [A-Za-z0-9_.-], not starting "
            "with '.' or '-'"
        )
    if not NAME_RE.fullmatch(name):
        raise ImageOptionError(
            f"image name {name!r} (from {text!r}): expected lowercase components of [a-z0-9] "
            "joined by '.', '_', '__' or '-', separated by '/', e.g. 'hello' or 'example.org/hello'"
        )
    return Reference(name, tag)


def default_image_name(store_path: str | None) -> str:
    """An image name from a store path's name: lowercased, other characters as ``-``."""
    if store_path is None:
        return "image"
    base = store_path.rstrip("/").rsplit("/", 1)[-1]
    name = base.split("-", 1)[1] if "-" in base else base
    cleaned = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return cleaned if NAME_RE.fullmatch(cleaned) else "image"


def descriptor(
    media_type: str, digest: str, size: int, annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    d: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": size}
    if annotations:
        d["annotations"] = dict(annotations)
    return d


@dataclass(frozen=True)
class ProcessConfig:
    """What the image runs: ``config.Entrypoint``, ``Cmd``, ``Env`` (each None = not set)."""

    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: tuple[str, ...] | None = None


def image_config(
    *,
    architecture: str,
    os: str,
    diff_ids: Sequence[str],
    history: Sequence[str],
    process: ProcessConfig,
) -> dict[str, Any]:
    """The image configuration (``application/vnd.oci.image.config.v1+json``)."""
    config: dict[str, Any] = {}  # {} rather than absent or null: Kubernetes wants an object
    if process.entrypoint is not None:
        config["Entrypoint"] = list(process.entrypoint)
    if process.cmd is not None:
        config["Cmd"] = list(process.cmd)
    if process.env is not None:
        config["Env"] = list(process.env)
    return {
        "architecture": architecture,
        "os": os,
        "created": EPOCH,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": EPOCH, "created_by": line} for line in history],
    }


def image_manifest(config: dict[str, Any], layers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": config,
        "layers": list(layers),
    }


def image_index(
    manifest: dict[str, Any], *, tag: str, architecture: str, os: str
) -> dict[str, Any]:
    entry = dict(manifest)
    entry["platform"] = {"architecture": architecture, "os": os}
    entry["annotations"] = {REF_NAME: tag}
    return {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [entry]}


def oci_layout() -> dict[str, Any]:
    return {"imageLayoutVersion": LAYOUT_VERSION}


def blob_path(digest: str) -> str:
    """``sha256:<hex>`` -> ``blobs/sha256/<hex>`` (relative to the layout)."""
    algorithm, encoded = digest.split(":", 1)
    return f"blobs/{algorithm}/{encoded}"


def docker_manifest(
    config_digest: str, layer_digests: Sequence[str], repo_tags: Sequence[str]
) -> list[dict[str, Any]]:
    """Docker's ``manifest.json`` (what ``docker load`` reads): paths into ``blobs/``."""
    return [
        {
            "Config": blob_path(config_digest),
            "RepoTags": list(repo_tags),
            "Layers": [blob_path(d) for d in layer_digests],
        }
    ]
