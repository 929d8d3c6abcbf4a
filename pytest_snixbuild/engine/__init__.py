"""The build engine: the castore FUSE filesystem and its mount, the runc wrapper, the service.

Importing this package does not load libfuse: the FUSE bindings are imported on first mount.
"""

from pytest_snixbuild.engine.errors import (
    BuildError,
    BuildFailedError,
    BuildTimeoutError,
    EngineConfigError,
    MissingOutputError,
    OutputIngestError,
    RuntimeFailedError,
    UnsupportedBuildError,
)
from pytest_snixbuild.engine.expect import check_expectations, format_report
from pytest_snixbuild.engine.mount import fuse_mounts_under, mount_castore
from pytest_snixbuild.engine.runtime import Runc, RunResult, new_container_id
from pytest_snixbuild.engine.service import (
    BuildService,
    DummyBuildService,
    OCIBuildService,
    from_addr,
)
from pytest_snixbuild.request.validation import RequestValidationError

__all__ = [
    "BuildError",
    "BuildFailedError",
    "BuildService",
    "BuildTimeoutError",
    "DummyBuildService",
    "EngineConfigError",
    "MissingOutputError",
    "OCIBuildService",
    "OutputIngestError",
    "RequestValidationError",
    "RunResult",
    "Runc",
    "RuntimeFailedError",
    "UnsupportedBuildError",
    "check_expectations",
    "format_report",
    "from_addr",
    "fuse_mounts_under",
    "mount_castore",
    "new_container_id",
]
