"""pytest-snixbuild: sandboxed builds in runc with a snix-compatible castore over FUSE.

The library API in one place; each name lives in a module of its own (see docs/architecture.md)::

    from pathlib import Path
    from pytest_snixbuild import OCIBuildService, Store, load_case

    store = Store.open(Path(".snix/store"))
    engine = OCIBuildService.from_store(Path(".snix/bundles"), store)
    result = engine.build(load_case(Path("fixtures/hello.toml"), store).request)
"""

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.ingest import export_node, ingest_path
from pytest_snixbuild.castore.nar import nar_hash, nar_hash_path
from pytest_snixbuild.castore.nodes import Directory, DirectoryNode, FileNode, Node, SymlinkNode
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.errors import (
    BuildError,
    BuildFailedError,
    BuildTimeoutError,
    MissingOutputError,
    RuntimeFailedError,
)
from pytest_snixbuild.engine.service import DummyBuildService, OCIBuildService, from_addr
from pytest_snixbuild.errors import SnixError
from pytest_snixbuild.image import ImageInput, build_image, verify_layout
from pytest_snixbuild.nix.aterm import parse_derivation, write_derivation
from pytest_snixbuild.nix.to_request import derivation_to_build_request
from pytest_snixbuild.oci.bundle import host_output_paths, make_bundle
from pytest_snixbuild.oci.normalize import normalize_spec
from pytest_snixbuild.oci.spec import make_spec
from pytest_snixbuild.request.model import (
    AdditionalFile,
    BuildConstraints,
    BuildOutput,
    BuildRequest,
    BuildResult,
    EnvVar,
)
from pytest_snixbuild.request.toml_case import Case, load_case
from pytest_snixbuild.request.validation import RequestValidationError, validate_request

__version__ = "0.1.0"

__all__ = [
    "AdditionalFile",
    "B3Digest",
    "BuildConstraints",
    "BuildError",
    "BuildFailedError",
    "BuildOutput",
    "BuildRequest",
    "BuildResult",
    "BuildTimeoutError",
    "Case",
    "Directory",
    "DirectoryNode",
    "DummyBuildService",
    "EnvVar",
    "FileNode",
    "ImageInput",
    "MissingOutputError",
    "Node",
    "OCIBuildService",
    "RequestValidationError",
    "RuntimeFailedError",
    "SnixError",
    "Store",
    "SymlinkNode",
    "__version__",
    "build_image",
    "derivation_to_build_request",
    "export_node",
    "from_addr",
    "host_output_paths",
    "ingest_path",
    "load_case",
    "make_bundle",
    "make_spec",
    "nar_hash",
    "nar_hash_path",
    "normalize_spec",
    "parse_derivation",
    "validate_request",
    "verify_layout",
    "write_derivation",
]
