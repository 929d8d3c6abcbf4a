"""BuildRequest → OCI runtime spec and bundle, with snix's semantics (see docs/oci-spec.md).

* :func:`make_spec` (``spec.py``): the ``config.json`` data, pure given mappings and cgroups path;
* :func:`make_bundle`, :class:`Bundle`, :func:`host_output_paths` (``bundle.py``);
* :func:`host_id_mappings`, :class:`IdMappings` (``subuid.py``): snix's subordinate-id logic;
* :func:`scratch_name` (``scratch.py``); :func:`normalize_spec` (``normalize.py``);
* ``schema.py``: JSON-schema and semantic checks of a spec.
"""

from __future__ import annotations

from pytest_snixbuild.oci.bundle import Bundle, host_output_paths, make_bundle
from pytest_snixbuild.oci.errors import (
    BundleError,
    OciError,
    OutputPathError,
    SpecError,
    SubordinateIdError,
)
from pytest_snixbuild.oci.normalize import normalize_spec
from pytest_snixbuild.oci.scratch import scratch_name
from pytest_snixbuild.oci.spec import make_spec
from pytest_snixbuild.oci.subuid import IdMap, IdMappings, host_id_mappings

__all__ = [
    "Bundle",
    "BundleError",
    "IdMap",
    "IdMappings",
    "OciError",
    "OutputPathError",
    "SpecError",
    "SubordinateIdError",
    "host_id_mappings",
    "host_output_paths",
    "make_bundle",
    "make_spec",
    "normalize_spec",
    "scratch_name",
]
