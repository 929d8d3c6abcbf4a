"""Nix 2.8 as the peer: a private configuration (``sandbox = true``), offline, as root.

As tests/nix does, Nix reads a private ``NIX_CONF_DIR`` and Debian's /etc/nix/nix.conf (which
turns the sandbox off) is left alone. Store paths this module adds for the benchmark are
deleted again by :meth:`NixPeer.delete` (paths Nix still needs are left: ``--delete`` refuses).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

NIX_CONF = """\
build-users-group =
sandbox = true
sandbox-fallback = false
substituters =
experimental-features = nix-command
"""

#: a trivial derivation whose builder is a static busybox from the store
TRIVIAL_NIX = """\
{ busybox, name }:
let bb = builtins.path { path = busybox; name = "busybox"; };
in derivation {
  inherit name;
  system = builtins.currentSystem;
  builder = "${bb}/bin/busybox";
  args = [ "sh" "-c" "echo hi > $out" ];
}
"""


class NixPeer:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.conf_dir = work / "nix-conf"
        self.conf_dir.mkdir()
        (self.conf_dir / "nix.conf").write_text(NIX_CONF)
        self.env = {**os.environ, "NIX_CONF_DIR": str(self.conf_dir)}

    @classmethod
    @contextlib.contextmanager
    def private(cls, work: Path) -> Iterator[NixPeer]:
        if shutil.which("nix-store") is None:
            raise RuntimeError("nix-store is not installed (apt-get install nix-bin)")
        yield cls(work)

    def run(self, *args: str) -> str:
        done = subprocess.run(
            list(args), env=self.env, capture_output=True, text=True, check=False, cwd=self.work
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return done.stdout

    def busybox_dir(self) -> Path:
        """A directory ``bin/busybox`` (mode 0555) for ``builtins.path``."""
        bb = self.work / "busybox"
        (bb / "bin").mkdir(parents=True)
        shutil.copy2("/bin/busybox", bb / "bin" / "busybox")
        (bb / "bin" / "busybox").chmod(0o555)
        return bb

    def trivial_drv(self, name: str) -> Path:
        expr = self.work / "trivial.nix"
        expr.write_text(TRIVIAL_NIX)
        out = self.run(
            "nix-instantiate",
            "--no-gc-warning",
            str(expr),
            "--arg",
            "busybox",
            str(self.busybox_dir()),
            "--argstr",
            "name",
            name,
        )
        return Path(out.strip())

    def delete(self, *paths: str) -> None:
        """``nix-store --delete`` each path that exists (failures are ignored), and the empty
        ``<path>.lock`` file a build of it may have left."""
        for path in paths:
            if os.path.lexists(path):
                subprocess.run(
                    ["nix-store", "--delete", path], env=self.env, capture_output=True, check=False
                )
            lock = f"{path}.lock"
            with contextlib.suppress(OSError):
                if not os.path.lexists(path) and os.stat(lock, follow_symlinks=False).st_size == 0:
                    os.unlink(lock)
