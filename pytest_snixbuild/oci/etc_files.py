"""The ``/etc`` files of the container, written as Nix's sandbox writes them.

snix leaves ``root/etc`` empty (a TODO); Nix writes these three files into every sandbox. The
contents below were checked against Nix 2.8's sandbox on this kind of machine (``cat`` inside a
sandboxed build): the build user ``nixbld`` is uid 1000, gid 100, its home is the build directory.
"""

from __future__ import annotations

from pytest_snixbuild.oci.subuid import BUILD_GID, BUILD_UID

NOBODY_ID = 65534


def passwd_text(build_dir: str = "/build") -> str:
    """``/etc/passwd``: root, the build user ``nixbld`` and ``nobody``."""
    return (
        f"root:x:0:0:Nix build user:{build_dir}:/noshell\n"
        f"nixbld:x:{BUILD_UID}:{BUILD_GID}:Nix build user:{build_dir}:/noshell\n"
        f"nobody:x:{NOBODY_ID}:{NOBODY_ID}:Nobody:/:/noshell\n"
    )


def group_text() -> str:
    """``/etc/group``: root, the build group ``nixbld`` and ``nogroup``."""
    return f"root:x:0:\nnixbld:!:{BUILD_GID}:\nnogroup:x:{NOBODY_ID}:\n"


#: ``/etc/hosts`` (with network access the host's file is bind-mounted over it, as in snix)
HOSTS_TEXT = "127.0.0.1 localhost\n::1 localhost\n"


def etc_files(build_dir: str = "/build") -> dict[str, str]:
    """File name under ``root/etc`` → contents."""
    return {"passwd": passwd_text(build_dir), "group": group_text(), "hosts": HOSTS_TEXT}
