"""The plugin's options, declared once: each becomes a command-line flag and an ini key.

Precedence is command line > ``[tool.pytest.ini_options]`` (or pytest.ini) > default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from pytest_snixbuild.errors import SnixError
from pytest_snixbuild.units import parse_size

IniType = Literal["bool", "string", "linelist"]


class OptionError(SnixError):
    """An option has a value that cannot be used."""


@dataclass(frozen=True, slots=True)
class OptionDef:
    """One option: its flag, its ini key, its type and its help text."""

    name: str  # the attribute name, e.g. "snix_runc"
    flag: str  # e.g. "--snix-runc"
    ini_type: IniType
    default: Any
    help: str
    metavar: str | None = None


OPTIONS: tuple[OptionDef, ...] = (
    OptionDef(
        "snix_runc",
        "--snix-runc",
        "bool",
        False,
        "run real builds in runc; without it tests that need runc are skipped",
    ),
    OptionDef(
        "snix_strict",
        "--snix-strict",
        "bool",
        False,
        "a missing runc, FUSE or busybox is an error instead of a skip (for CI)",
    ),
    OptionDef(
        "snix_runtime",
        "--snix-runtime",
        "string",
        "runc",
        "the OCI runtime binary to run builds with (default: runc)",
        "PATH",
    ),
    OptionDef(
        "snix_store",
        "--snix-store",
        "string",
        "",
        "the castore directory to use (default: a store for the session under pytest's basetemp)",
        "DIR",
    ),
    OptionDef(
        "snix_keep_failed",
        "--snix-keep-failed",
        "bool",
        False,
        "keep the bundle of a failed build and print its path",
    ),
    OptionDef(
        "snix_timeout",
        "--snix-timeout",
        "string",
        "300",
        "seconds after which a build is killed (default: 300; 0 = no timeout)",
        "S",
    ),
    OptionDef(
        "snix_memory_limit",
        "--snix-memory-limit",
        "string",
        "",
        "memory limit of each build, e.g. 256M: a build that needs more is OOM-killed "
        "(default: none)",
        "SIZE",
    ),
    OptionDef(
        "snix_disk_limit",
        "--snix-disk-limit",
        "string",
        "",
        "make each bundle a tmpfs of this size, e.g. 64M, so a build that writes more fails "
        "(needs root; default: none)",
        "SIZE",
    ),
    OptionDef(
        "snix_cases",
        "--snix-cases",
        "string",
        "*.toml",
        "glob of TOML case files to collect (default: *.toml)",
        "GLOB",
    ),
)

ROOTLESS_INI = "snix_rootless"
CASE_DIRS_INI = "snix_case_dirs"


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("snixbuild", "sandboxed builds with pytest-snixbuild")
    for opt in OPTIONS:
        if opt.ini_type == "bool":
            group.addoption(
                opt.flag, action="store_true", default=None, dest=opt.name, help=opt.help
            )
        else:
            group.addoption(
                opt.flag,
                action="store",
                default=None,
                dest=opt.name,
                metavar=opt.metavar,
                help=opt.help,
            )
        parser.addini(opt.name, opt.help, type=opt.ini_type, default=opt.default)
    group.addoption(
        "--snix-rootless",
        action="store_true",
        default=None,
        dest="snix_rootless",
        help="run builds in a user namespace (the default)",
    )
    group.addoption(
        "--snix-rootful",
        action="store_false",
        dest="snix_rootless",
        help="run builds without a user namespace",
    )
    parser.addini(
        ROOTLESS_INI, "run builds in a user namespace (default: true)", type="bool", default=True
    )
    parser.addini(
        CASE_DIRS_INI, "directories whose TOML cases are collected", type="linelist", default=[]
    )


def get_option(config: pytest.Config, name: str) -> Any:
    """The value of option ``name``: command line, else ini, else default."""
    value = config.getoption(name, default=None)
    if value is not None:
        return value
    return config.getini(name)


def timeout_of(config: pytest.Config) -> float | None:
    raw = str(get_option(config, "snix_timeout"))
    try:
        seconds = float(raw)
    except ValueError:
        raise OptionError(
            f"--snix-timeout / snix_timeout: {raw!r} is not a number of seconds"
        ) from None
    if seconds < 0:
        raise OptionError(f"--snix-timeout / snix_timeout: {raw!r} must be >= 0")
    return seconds or None


def size_of(config: pytest.Config, name: str) -> int | None:
    """A size option (``snix_memory_limit``, ``snix_disk_limit``) in bytes; None when unset."""
    raw = str(get_option(config, name) or "")
    if not raw:
        return None
    try:
        return parse_size(raw)
    except ValueError as exc:
        raise OptionError(f"--{name.replace('_', '-')} / {name}: {exc}") from None


def case_dirs(config: pytest.Config) -> list[Path]:
    """The ``snix_case_dirs`` ini entries, resolved against the rootdir."""
    return [(config.rootpath / d).resolve() for d in config.getini(CASE_DIRS_INI)]


def store_dir_of(config: pytest.Config) -> Path | None:
    """The ``--snix-store`` directory (relative to where pytest was started) or the
    ``snix_store`` ini value (relative to the rootdir); None for the session's own store."""
    given = config.getoption("snix_store", default=None)
    if given:
        return (config.invocation_params.dir / str(given)).resolve()
    ini = str(config.getini("snix_store") or "")
    if ini:
        return (config.rootpath / ini).resolve()
    return None
