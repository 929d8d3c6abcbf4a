"""Fixtures of the image tests: schema checks, stores with realistic store paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from snix_image_helpers import (
    BUSYBOX_PATH,
    HELLO_PATH,
    SCHEMA_DIR,
    make_busybox_tree,
    make_hello_tree,
)

from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.image.api import ImageInput
from pytest_snixbuild.image.schema import SchemaCheck, image_schema_validator


@pytest.fixture(scope="session")
def schema_check() -> SchemaCheck:
    return image_schema_validator(SCHEMA_DIR)


@dataclass
class HelloImage:
    """A castore holding busybox and a hello script that needs it, as image inputs."""

    store: Store
    busybox: ImageInput
    hello: ImageInput

    @property
    def inputs(self) -> list[ImageInput]:
        return [self.hello, self.busybox]


def hello_inputs(store: Store, src: Path) -> HelloImage:
    bb = ingest_path(make_busybox_tree(src / "busybox"), store)
    hello = ingest_path(make_hello_tree(src / "hello"), store)
    return HelloImage(
        store,
        ImageInput(BUSYBOX_PATH, bb, frozenset()),
        ImageInput(HELLO_PATH, hello, frozenset({BUSYBOX_PATH})),
    )


@pytest.fixture
def hello_image(tmp_path: Path) -> HelloImage:
    """busybox + hello in an on-disk castore."""
    return hello_inputs(Store.open(tmp_path / "castore"), tmp_path / "src")


@pytest.fixture
def hello_image_memory(tmp_path: Path) -> HelloImage:
    """The same paths in an in-memory castore."""
    return hello_inputs(Store.memory(), tmp_path / "src-memory")
