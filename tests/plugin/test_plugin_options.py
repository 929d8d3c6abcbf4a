"""Every option is in ``pytest --help`` (flag and ini key), and every one can be set in
``[tool.pytest.ini_options]``."""

from __future__ import annotations

import shutil

import pytest
from snix_plugin_helpers import hello_case, make_ini, run

from pytest_snixbuild.options import OPTIONS

FLAGS = [
    "--snix-runc",
    "--snix-strict",
    "--snix-runtime=PATH",
    "--snix-rootless",
    "--snix-rootful",
    "--snix-store=DIR",
    "--snix-keep-failed",
    "--snix-timeout=S",
    "--snix-memory-limit=SIZE",
    "--snix-disk-limit=SIZE",
    "--snix-cases=GLOB",
]
INI_KEYS = [
    "snix_runc (bool)",
    "snix_strict (bool)",
    "snix_runtime (string)",
    "snix_store (string)",
    "snix_keep_failed (bool)",
    "snix_timeout (string)",
    "snix_memory_limit (string)",
    "snix_disk_limit (string)",
    "snix_cases (string)",
    "snix_rootless (bool)",
    "snix_case_dirs (linelist)",
]


def test_help_lists_every_flag_and_ini_key(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--help")
    text = result.stdout.str()
    result.stdout.fnmatch_lines(["sandboxed builds with pytest-snixbuild:"])
    for flag in FLAGS:
        assert f"  {flag}" in text, flag
    for key in INI_KEYS:
        assert f"  {key}:" in text, key
    assert {opt.flag for opt in OPTIONS} <= {flag.split("=")[0] for flag in FLAGS}


def test_every_option_in_pyproject(pytester: pytest.Pytester) -> None:
    runc = shutil.which("runc")
    make_ini(
        pytester,
        snix_runc=True,
        snix_strict=True,
        snix_runtime=runc,
        snix_rootless=False,
        snix_store="the-store",
        snix_keep_failed=True,
        snix_timeout="12.5",
        snix_memory_limit="256M",
        snix_disk_limit="1G",
        snix_cases="c-*.toml",
        snix_case_dirs=["cases"],
    )
    cases = pytester.mkdir("cases")
    (cases / "c-one.toml").write_text(hello_case())
    (cases / "other.toml").write_text(hello_case())
    tests = pytester.mkdir("tests")
    (tests / "test_settings.py").write_text(
        f"""
from pathlib import Path


def test_settings(snix_harness, pytestconfig):
    h = snix_harness
    assert (h.runc_enabled, h.strict, h.keep_failed, h.rootless) == (True, True, True, False)
    assert h.runtime == {runc!r}
    assert h.store_dir == pytestconfig.rootpath / "the-store"
    assert h.timeout == 12.5
    assert (h.memory_limit, h.disk_limit) == (256 << 20, 1 << 30)
"""
    )
    result = run(pytester, "--co", "-q")
    assert sorted(line for line in result.stdout.lines if "::" in line) == [
        "cases/c-one.toml::c-one",
        "tests/test_settings.py::test_settings",
    ]
    run(pytester, "tests").assert_outcomes(passed=1)
