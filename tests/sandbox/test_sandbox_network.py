"""Sandbox probes, network: without ``network_access`` the build has its own network namespace
with only ``lo``; with it, the build shares the host's network and gets its network files. Only
loopback addresses are used, with bounded timeouts."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from snix_sandbox_helpers import PROBE_INPUT, Listener, Sandbox, host_namespaces

from pytest_snixbuild.castore.nodes import Node
from pytest_snixbuild.oci.etc_files import etc_files
from pytest_snixbuild.oci.spec import NETWORK_FILES
from pytest_snixbuild.request.model import BuildConstraints

pytestmark = pytest.mark.snix_runc

#: busybox nc's connect timeout, seconds
NC_TIMEOUT = 5


def interfaces(proc_net_dev: str) -> list[str]:
    """Interface names from /proc/net/dev (two header lines, then ``name: counters``)."""
    return sorted(line.split(":")[0].strip() for line in proc_net_dev.splitlines()[2:])


def test_no_network_only_loopback(sandbox: Sandbox) -> None:
    with Listener() as listener:
        script = f"""
        try dev "cat /proc/net/dev"
        try route "cat /proc/net/route"
        try connect "echo probe | nc -w {NC_TIMEOUT} 127.0.0.1 {listener.port}"
        try resolv "cat /etc/resolv.conf"
        try hosts "cat /etc/hosts"
        try sysfs_net "ls /sys/class/net"
        readlink /proc/self/ns/net > $out/netns
        """
        probe = sandbox.probe(script)
    assert interfaces(probe.attempt("dev").out) == ["lo"]
    assert len(probe.attempt("route").out.splitlines()) == 1  # the header: no routes
    connect = probe.attempt("connect")
    assert connect.rc != 0 and "Connection refused" in connect.err, connect
    assert listener.received == []  # the host's listener saw nothing
    assert probe.attempt("resolv").rc != 0  # no network files
    assert probe.attempt("hosts") == (0, etc_files("/build")["hosts"], "")
    assert probe.text("netns").strip() != host_namespaces()["net"]
    # not protected: the rootless /sys is the host's, and names the host's interfaces
    sysfs_net = probe.attempt("sysfs_net").out.split()
    if sandbox.rootless:
        assert sorted(sysfs_net) == sorted(os.listdir("/sys/class/net"))
    else:
        assert sysfs_net == ["lo"]


def test_network_access_shares_the_hosts_network(sandbox: Sandbox) -> None:
    token = f"snixbuild-probe-{uuid.uuid4().hex}"
    with Listener() as listener:
        script = f"""
        try send "echo {token} | nc -w {NC_TIMEOUT} 127.0.0.1 {listener.port}"
        try dev "cat /proc/net/dev"
        readlink /proc/self/ns/net > $out/netns
        cat /etc/resolv.conf > $out/resolv.conf
        cat /etc/services > $out/services
        cat /etc/hosts > $out/hosts
        """
        probe = sandbox.probe(script, constraints=BuildConstraints(network_access=True))
    assert probe.attempt("send").rc == 0
    assert listener.received == [f"{token}\n".encode()]
    assert probe.text("netns").strip() == host_namespaces()["net"]
    host_dev = Path("/proc/net/dev").read_text()
    assert interfaces(probe.attempt("dev").out) == interfaces(host_dev)
    for path in NETWORK_FILES:
        assert probe.files[Path(path).name] == Path(path).read_bytes(), path


@pytest.mark.parametrize("network", [False, True], ids=["no-network", "network"])
def test_abstract_unix_sockets_follow_the_network_namespace(
    sandbox: Sandbox, probe_input: dict[str, Node], network: bool
) -> None:
    """Abstract unix sockets belong to a network namespace. Without network access the host's
    are out of reach; with it (not protected) the build can connect to any of them."""
    name = f"snixbuild-probe-{uuid.uuid4().hex}"
    with Listener(abstract_name=name) as listener:
        script = f'try connect "/nix/store/{PROBE_INPUT} unix {name} {name}"\n'
        constraints = BuildConstraints(network_access=network)
        probe = sandbox.probe(script, constraints=constraints, inputs=probe_input)
    connect = probe.attempt("connect")
    if network:
        assert connect == (0, "connect=0 0\n", "")
        assert listener.received == [f"{name}\n".encode()]
    else:
        assert connect == (1, "connect=-1 ECONNREFUSED\n", "")
        assert listener.received == []
