"""normalize_spec: volatile values become placeholders, everything else stays."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pytest_snixbuild.oci import IdMappings, make_spec, normalize_spec
from pytest_snixbuild.oci.normalize import looks_like_spec
from pytest_snixbuild.request.model import BuildRequest


def _spec(request: BuildRequest, *, uid: int, sub: int, cgroups: str, shell: str) -> Any:
    mappings = IdMappings.snix(uid=uid, gid=uid + 1, subuid=sub, subgid=sub + 1)
    return make_spec(
        request, rootless=True, sandbox_shell=shell, mappings=mappings, cgroups_path=cgroups
    )


def test_specs_from_different_hosts_normalize_equal(foo_request: BuildRequest) -> None:
    a = _spec(foo_request, uid=0, sub=100000, cgroups="/snixbuild-aa", shell="/bin/busybox")
    b = _spec(foo_request, uid=1500, sub=300000, cgroups="/x/y", shell="/nix/store/x-busybox/sh")
    assert a != b
    assert normalize_spec(a) == normalize_spec(b)


def test_placeholders(foo_request: BuildRequest) -> None:
    spec = _spec(foo_request, uid=7, sub=9, cgroups="/snixbuild-1", shell="/bin/busybox")
    norm = normalize_spec(spec)
    assert norm["linux"]["uidMappings"] == [
        {"hostID": "<host-uid>", "containerID": 0, "size": 1},
        {"hostID": "<host-subuid>", "containerID": 1000, "size": 1},
    ]
    assert norm["linux"]["gidMappings"] == [
        {"hostID": "<host-gid>", "containerID": 0, "size": 1},
        {"hostID": "<host-subgid>", "containerID": 100, "size": 1},
    ]
    assert norm["linux"]["cgroupsPath"] == "<cgroups-path>"
    shell = [m for m in norm["mounts"] if m["destination"] == "/bin/sh"]
    assert shell == [
        {
            "destination": "/bin/sh",
            "type": "none",
            "source": "<sandbox-shell>",
            "options": ["rbind", "ro"],
        }
    ]


def test_only_volatile_values_change(foo_request: BuildRequest) -> None:
    spec = _spec(foo_request, uid=7, sub=9, cgroups="/snixbuild-1", shell="/bin/busybox")
    before = copy.deepcopy(spec)
    norm = normalize_spec(spec)
    assert spec == before  # the input is not changed
    assert norm["process"] == spec["process"]  # env, args, caps untouched
    assert [m["destination"] for m in norm["mounts"]] == [m["destination"] for m in spec["mounts"]]
    assert "/tmp" in [m["destination"] for m in norm["mounts"]]  # container paths stay
    volatile = {"/bin/sh"}
    for n, s in zip(norm["mounts"], spec["mounts"], strict=True):
        if n["destination"] not in volatile:
            assert n == s
    assert normalize_spec(norm) == norm  # idempotent


def test_host_paths_in_temporary_dirs(
    make_request: Callable[..., BuildRequest], pure_spec: Callable[..., dict[str, Any]]
) -> None:
    request = make_request(
        ro_paths=(
            "/tmp/pytest-of-root/pytest-17/test_x0/ro",
            "/var/tmp/build-5/x",
            "/usr/share",
        )
    )
    spec = pure_spec(request)
    spec["root"]["path"] = "/var/tmp/build-5/bundle/root"
    spec["annotations"] = {"run": "snixbuild-0d3c2c5e-8a39-4d1e-9f8e-6a2f3c1b9e7d"}
    norm = normalize_spec(spec, tmp_dirs=["/var/tmp/build-5"])
    sources = {m["destination"]: m["source"] for m in norm["mounts"]}
    assert sources["/tmp/pytest-of-root/pytest-17/test_x0/ro"] == "<tmp>/test_x0/ro"
    assert sources["/var/tmp/build-5/x"] == "<tmp>/x"
    assert sources["/usr/share"] == "/usr/share"
    assert norm["root"]["path"] == "<tmp>/bundle/root"
    assert norm["annotations"] == {"run": "snixbuild-<run-id>"}
    # the system temp dir is the default
    assert normalize_spec({"ociVersion": "x", "root": {"path": "/tmp/b/root"}}) == {
        "ociVersion": "x",
        "root": {"path": "<tmp>/b/root"},
    }


def test_looks_like_spec(foo_request: BuildRequest, pure_spec: Callable[..., Any]) -> None:
    assert looks_like_spec(pure_spec(foo_request))
    assert not looks_like_spec({"ociVersion": "1.0.2-dev"})
    assert not looks_like_spec({"mounts": []})
    assert not looks_like_spec(["ociVersion"])
