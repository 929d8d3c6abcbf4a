"""syrupy support: review OCI runtime specs (``config.json``) as snapshot files.

:class:`OciSpecExtension` is a single-file JSON extension: one ``.json`` file per assertion under
``__snapshots__/<test module>/``, keys sorted, one value per line (indent 2), list order kept
(mount order matters). Data that looks like a runtime spec is passed through
:func:`~pytest_snixbuild.oci.normalize.normalize_spec` first, so host uids, cgroups paths, the
sandbox shell path and temporary directories do not make snapshots differ between machines::

    from pytest_snixbuild.snapshot import OciSpecExtension

    def test_spec(snapshot):
        assert make_spec(request, rootless=True, sandbox_shell="/bin/busybox") == snapshot(
            extension_class=OciSpecExtension
        )

``pytest --snapshot-update`` writes new and changed snapshots.
"""

from __future__ import annotations

from typing import Any

from syrupy.extensions.json import JSONSnapshotExtension

from pytest_snixbuild.oci.normalize import looks_like_spec, normalize_spec


class OciSpecExtension(JSONSnapshotExtension):
    """A JSON snapshot extension that normalizes runtime specs before writing them."""

    file_extension = "json"

    def serialize(self, data: Any, **kwargs: Any) -> Any:
        """Normalize ``data`` if it looks like a spec, then write sorted, indented JSON."""
        if looks_like_spec(data):
            data = normalize_spec(data)
        return super().serialize(data, **kwargs)
