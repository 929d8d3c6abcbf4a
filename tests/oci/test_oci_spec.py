"""make_spec against snix's reconstructed config.json, field by field, and its own rules."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from typing import Any

import pytest

from pytest_snixbuild.oci import IdMappings, SpecError, make_spec
from pytest_snixbuild.oci.spec import OCI_VERSION, default_cgroups_path
from pytest_snixbuild.request.model import BuildConstraints, BuildRequest, EnvVar

SpecFn = Callable[..., dict[str, Any]]
MAPPINGS = IdMappings.snix(uid=11, gid=12, subuid=100000, subgid=100001)


def _expected(example: dict[str, Any], mode: str) -> dict[str, Any]:
    """snix's config with the host values filled in and our documented differences applied."""
    want: dict[str, Any] = copy.deepcopy(example[f"{mode}_config"])
    ids = {"<euid>": 11, "<egid>": 12, "<first subuid>": 100000, "<first subgid>": 100001}
    for key in ("uidMappings", "gidMappings"):
        for m in want["linux"][key]:
            m["hostID"] = ids[m["hostID"]]
    for mount in want["mounts"]:
        if mount["source"] == "<SNIX_BUILD_SANDBOX_SHELL>":
            mount["source"] = "/nix/store/sandbox-shell/bin/busybox"
    # difference 1: terminal false (runc cannot open a tty in CI)
    assert want["process"]["terminal"] is True
    want["process"]["terminal"] = False
    # difference 2: a per-build cgroupsPath, after resources as in oci-spec's struct order
    linux = want["linux"]
    want["linux"] = {}
    for key, value in linux.items():
        want["linux"][key] = value
        if key == "resources":
            want["linux"]["cgroupsPath"] = "/snixbuild-1"
    # difference 3: capability sets sorted (snix: HashSet order)
    caps = want["process"]["capabilities"]
    for name in caps:
        caps[name] = sorted(caps[name])
    # difference 4: host trees are bound recursively read-only (rootless /sys; ro paths)
    for mount in want["mounts"]:
        if mount["destination"] == "/sys" and "rbind" in mount["options"]:
            mount["options"] = [*mount["options"], "rro"]
    return want


@pytest.mark.parametrize("mode", ["rootless", "rootful"])
def test_spec_matches_snix_example(
    foo_request: BuildRequest, config_example: dict[str, Any], mode: str
) -> None:
    got = make_spec(
        foo_request,
        rootless=mode == "rootless",
        sandbox_shell="/nix/store/sandbox-shell/bin/busybox",
        mappings=MAPPINGS,
        cgroups_path="/snixbuild-1",
    )
    want = _expected(config_example, mode)
    assert list(got) == list(want)  # top-level keys in snix's order
    for key in want:
        assert got[key] == want[key], key
    assert list(got["process"]) == list(want["process"])
    assert list(got["linux"]) == list(want["linux"])
    for got_mount, want_mount in zip(got["mounts"], want["mounts"], strict=True):
        assert list(got_mount) == list(want_mount)
    # the whole thing serializes to the same compact JSON (byte for byte, key order included)
    assert json.dumps(got, separators=(",", ":")) == json.dumps(want, separators=(",", ":"))


def test_spec_is_pure_and_json_data(foo_request: BuildRequest, pure_spec: SpecFn) -> None:
    first = pure_spec(foo_request)
    assert pure_spec(foo_request) == first
    assert json.loads(json.dumps(first)) == first
    first["mounts"].clear()  # mutating one result does not leak into the next
    assert pure_spec(foo_request)["mounts"]


def test_default_cgroups_paths_differ() -> None:
    a, b = default_cgroups_path(), default_cgroups_path()
    assert a != b and a.startswith("/snixbuild-") and a.count("/") == 1


def test_spec_reads_mappings_and_draws_cgroups_path(foo_request: BuildRequest) -> None:
    spec = make_spec(foo_request, rootless=True, sandbox_shell="/bin/busybox")
    assert spec["linux"]["uidMappings"][0] == {"hostID": os.geteuid(), "containerID": 0, "size": 1}
    assert spec["linux"]["gidMappings"][0] == {"hostID": os.getegid(), "containerID": 0, "size": 1}
    assert spec["linux"]["cgroupsPath"].startswith("/snixbuild-")
    other = make_spec(foo_request, rootless=True, sandbox_shell="/bin/busybox")
    assert other["linux"]["cgroupsPath"] != spec["linux"]["cgroupsPath"]


def test_oci_version_and_terminal(foo_request: BuildRequest, pure_spec: SpecFn) -> None:
    spec = pure_spec(foo_request)
    assert spec["ociVersion"] == OCI_VERSION == "1.0.2-dev"
    assert spec["process"]["terminal"] is False


def _dests(spec: dict[str, Any]) -> list[str]:
    return [m["destination"] for m in spec["mounts"]]


BASE = ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup", "/tmp"]


def test_mount_order(make_request: Callable[..., BuildRequest], pure_spec: SpecFn) -> None:
    request = make_request(
        network=True,
        ro_paths=("/usr/lib", "/etc/ssl", "/usr/lib"),
        inputs={"b-in": _node(), "a-in": _node()},
    )
    spec = pure_spec(request)
    assert _dests(spec) == [
        *BASE,
        "/build",
        "/nix/store",
        "/nix/store/a-in",
        "/nix/store/b-in",
        "/etc/ssl",  # sorted and deduplicated (snix: HashSet order)
        "/usr/lib",
        "/bin/sh",
        "/etc/resolv.conf",
        "/etc/services",
        "/etc/hosts",
    ]
    by_dest = {m["destination"]: m for m in spec["mounts"]}
    assert by_dest["/nix/store/a-in"] == {
        "destination": "/nix/store/a-in",
        "type": "none",
        "source": "inputs/a-in",
        "options": ["rbind", "ro", "nosuid", "nodev"],
    }
    assert (
        by_dest["/build"]["source"]
        == "scratch/3SCCPULSYMZAQ35F76TA3A3HYQROJMTNQW7SVJDXX5BNIYJ3WHYA===="
    )
    assert by_dest["/build"]["options"] == ["rbind", "rw"]
    assert by_dest["/usr/lib"] == {
        "destination": "/usr/lib",
        "type": "none",
        "source": "/usr/lib",
        "options": ["rbind", "ro", "rro"],
    }
    assert by_dest["/bin/sh"]["options"] == ["rbind", "ro"]
    assert by_dest["/bin/sh"]["source"] == "/bin/busybox"
    assert by_dest["/etc/hosts"]["source"] == "/etc/hosts"


def _node() -> Any:
    from pytest_snixbuild.castore.digests import EMPTY_DIGEST
    from pytest_snixbuild.castore.nodes import DirectoryNode

    return DirectoryNode(EMPTY_DIGEST, 0)


@pytest.mark.parametrize("rootless", [True, False])
@pytest.mark.parametrize("network", [True, False])
def test_namespaces(
    make_request: Callable[..., BuildRequest], pure_spec: SpecFn, rootless: bool, network: bool
) -> None:
    spec = pure_spec(make_request(network=network), rootless=rootless)
    types = [ns["type"] for ns in spec["linux"]["namespaces"]]
    expected = ["pid", "ipc", "uts", "mount"]
    expected += [] if network else ["network"]
    expected += ["user"] if rootless else []
    assert types == expected
    assert "cgroup" not in types


def test_no_constraints_means_no_shell_and_no_network(pure_spec: SpecFn) -> None:
    request = BuildRequest(command_args=("/x",), constraints=None)
    spec = pure_spec(request)
    assert _dests(spec) == [*BASE, "/build", "/nix/store"]
    assert {"type": "network"} in spec["linux"]["namespaces"]


def test_process(make_request: Callable[..., BuildRequest], pure_spec: SpecFn) -> None:
    request = make_request(working_dir="build/sub")
    rootless = pure_spec(request)["process"]
    assert rootless["user"] == {"uid": 1000, "gid": 100}
    assert rootless["cwd"] == "/build/sub"
    assert rootless["args"] == ["/bin/sh", "-c", "echo hello > $out"]
    assert rootless["env"] == [f"out=/{request.outputs[0]}"]
    assert rootless["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    assert rootless["noNewPrivileges"] is True
    caps = rootless["capabilities"]
    assert set(caps) == {"bounding", "effective", "inheritable", "permitted", "ambient"}
    assert all(v == sorted(v) and len(v) == 14 for v in caps.values())
    assert set(caps["ambient"]) <= set(caps["inheritable"]) & set(caps["permitted"])
    rootful = pure_spec(request, rootless=False)["process"]["capabilities"]
    assert all(v == ["CAP_AUDIT_WRITE", "CAP_KILL"] for v in rootful.values())


def test_rootless_and_rootful_mounts_differ_as_in_oci_spec(
    make_request: Callable[..., BuildRequest], pure_spec: SpecFn
) -> None:
    rootless = {m["destination"]: m for m in pure_spec(make_request())["mounts"]}
    rootful = {m["destination"]: m for m in pure_spec(make_request(), rootless=False)["mounts"]}
    assert rootless["/sys"] == {
        "destination": "/sys",
        "type": "none",
        "source": "/sys",
        "options": ["nosuid", "noexec", "nodev", "ro", "rbind", "rro"],
    }
    assert rootful["/sys"]["type"] == "sysfs"
    assert "gid=5" in rootful["/dev/pts"]["options"]
    assert "gid=5" not in rootless["/dev/pts"]["options"]


def test_empty_paths_join_to_root(pure_spec: SpecFn) -> None:
    request = BuildRequest(
        command_args=("/x",), working_dir="", inputs_dir="", inputs={"in": _node()}
    )
    spec = pure_spec(request)
    assert spec["process"]["cwd"] == "/"
    assert "/in" in _dests(spec)


def test_non_utf8_environment_value_is_an_error(pure_spec: SpecFn) -> None:
    request = BuildRequest(command_args=("/x",), environment_vars=(EnvVar("BAD", b"a\xffb"),))
    with pytest.raises(SpecError, match=r"environment_vars: the value of 'BAD' is not valid UTF-8"):
        pure_spec(request)


def test_relative_sandbox_shell_is_an_error(foo_request: BuildRequest) -> None:
    with pytest.raises(SpecError, match="sandbox shell 'busybox' is not an absolute path"):
        make_spec(foo_request, rootless=True, sandbox_shell="busybox", mappings=MAPPINGS)
    # without provide_bin_sh the shell is not used at all
    request = BuildRequest(command_args=("/x",), constraints=BuildConstraints(provide_bin_sh=False))
    spec = make_spec(request, rootless=True, sandbox_shell="", mappings=MAPPINGS)
    assert "/bin/sh" not in _dests(spec)


def test_relative_ro_path_is_an_error(pure_spec: SpecFn) -> None:
    request = BuildRequest(
        command_args=("/x",), constraints=BuildConstraints(available_ro_paths=("usr",))
    )
    with pytest.raises(SpecError, match="available_ro_paths: 'usr' is not an absolute"):
        pure_spec(request)
