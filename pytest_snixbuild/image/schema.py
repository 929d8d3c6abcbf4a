"""Checking image documents against the OCI image-spec JSON schemas, offline.

The schemas (image-spec v1.1.1; the project keeps them in ``tests/data/image/image-spec-schema``)
carry ids such as ``https://opencontainers.org/schema/image/manifest``, so their relative
``$ref``\\ s resolve to URLs like ``https://opencontainers.org/schema/image/defs-descriptor.json``.
Each such URL is looked up by its basename in the schema directory, as image-spec's own validator
does with its table of embedded files; nothing is fetched. Needs ``jsonschema`` ≥ 4.18 and
``referencing`` (test dependencies).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

DocumentKind = Literal["oci-layout", "index", "manifest", "config"]

#: the schema file of each document kind
SCHEMA_FILES: dict[DocumentKind, str] = {
    "oci-layout": "image-layout-schema.json",
    "index": "image-index-schema.json",
    "manifest": "image-manifest-schema.json",
    "config": "config-schema.json",
}

SchemaCheck = Callable[[DocumentKind, Any], list[str]]


def image_schema_validator(schema_dir: Path) -> SchemaCheck:
    """A function ``check(kind, document)`` returning the schema errors (``[]`` when valid),
    each as ``/json/pointer: message``."""
    import jsonschema
    from referencing import Registry, Resource
    from referencing.exceptions import NoSuchResource
    from referencing.jsonschema import DRAFT4

    def load(name: str) -> Any:
        return json.loads((schema_dir / name).read_text(encoding="utf-8"))

    def retrieve(uri: str) -> Resource:
        name = uri.rstrip("/").rsplit("/", 1)[-1]
        if not (schema_dir / name).is_file():
            raise NoSuchResource(ref=uri)  # type: ignore[call-arg]
        return Resource.from_contents(load(name), default_specification=DRAFT4)

    registry = Registry(retrieve=retrieve)  # type: ignore[call-arg]
    validators = {
        kind: jsonschema.Draft4Validator(load(file), registry=registry)
        for kind, file in SCHEMA_FILES.items()
    }

    def check(kind: DocumentKind, document: Any) -> list[str]:
        found = sorted(validators[kind].iter_errors(document), key=lambda e: list(e.absolute_path))
        return ["/" + "/".join(str(p) for p in e.absolute_path) + f": {e.message}" for e in found]

    return check
