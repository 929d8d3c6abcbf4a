"""Helpers of the Nix-format tests: the vectors in tests/data/nix and a Nix 2.8 runner."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data" / "nix"
OK_DIR = DATA / "derivation_tests" / "ok"
GLUE_DIR = DATA / "glue_drvs"


def load_json(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def ok_drvs() -> list[Path]:
    return sorted(OK_DIR.glob("*.drv"))


@dataclass(frozen=True)
class NixTools:
    """Nix 2.8 configured as docs/derivations.md describes: offline, sandboxed, as root."""

    conf_dir: Path
    work: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "NIX_CONF_DIR": str(self.conf_dir)}

    def run(self, *args: str) -> str:
        proc = subprocess.run(
            list(args), env=self.env, capture_output=True, text=True, check=False, cwd=self.work
        )
        if proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc.stdout

    def instantiate(self, expr_file: Path, attr: str) -> Path:
        out = self.run("nix-instantiate", "--no-gc-warning", str(expr_file), "-A", attr)
        return Path(out.strip())

    def build(self, expr_file: Path, attr: str) -> list[Path]:
        out = self.run("nix-build", "--no-out-link", str(expr_file), "-A", attr)
        return [Path(line) for line in out.split()]
