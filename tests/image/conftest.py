"""Fixtures of the image tests: schema checks, stores with realistic store paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from snix_image_helpers import SCHEMA_DIR, HelloImage, hello_inputs

from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.image.schema import SchemaCheck, image_schema_validator


@pytest.fixture(scope="session")
def schema_check() -> SchemaCheck:
    return image_schema_validator(SCHEMA_DIR)


@pytest.fixture
def hello_image(tmp_path: Path) -> HelloImage:
    """busybox + hello in an on-disk castore."""
    return hello_inputs(Store.open(tmp_path / "castore"), tmp_path / "src")


@pytest.fixture
def hello_image_memory(tmp_path: Path) -> HelloImage:
    """The same paths in an in-memory castore."""
    return hello_inputs(Store.memory(), tmp_path / "src-memory")
