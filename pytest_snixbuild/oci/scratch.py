"""Names of the scratch directories inside a bundle, exactly as snix computes them."""

from __future__ import annotations

import base64

import blake3


def scratch_name(path: str) -> str:
    """The directory name of scratch path ``path`` under ``<bundle>/scratch/``.

    It is RFC 4648 base32 (upper case, ``=``-padded, always 56 characters) of the BLAKE3 digest of
    the path as given (for example ``build`` or ``nix/store``). snix's source comment says
    "lower hex"; the code uses base32, and so do we.
    """
    return base64.b32encode(blake3.blake3(path.encode("utf-8")).digest()).decode("ascii")
