"""pytest-snixbuild: sandboxed builds in runc with a snix-compatible castore over FUSE."""

from pytest_snixbuild.errors import SnixError

__version__ = "0.1.0"

__all__ = ["SnixError", "__version__"]
