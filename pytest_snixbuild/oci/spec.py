"""BuildRequest → OCI runtime spec (``config.json``), as snix's ``make_spec`` builds it.

:func:`make_spec` returns plain JSON data (dicts, lists, str, int, bool). It is pure when
``mappings`` and ``cgroups_path`` are passed; otherwise it reads the id mappings of the running
user (:func:`~pytest_snixbuild.oci.subuid.host_id_mappings`) and draws a fresh cgroups path.

Deliberate differences from snix (docs/oci-spec.md explains each one):

* ``process.terminal`` is false (snix: true, which needs a controlling tty);
* ``linux.cgroupsPath`` is set, one per build (runc's ``--root`` does not isolate cgroups);
* ``available_ro_paths`` are mounted in sorted order (snix: HashSet order) and deduplicated;
* capability sets are sorted (snix: HashSet order);
* the build user's host ids fall back to a fixed id for root without subordinate ids
  (see :mod:`pytest_snixbuild.oci.subuid`);
* a non-UTF-8 environment value is a :class:`SpecError` (snix panics);
* host trees bind-mounted read-only (the rootless ``/sys``, ``available_ro_paths``) are mounted
  recursively read-only (``rro``): with a plain ``ro`` their submounts (fusectl, a tmpfs below
  a read-only path, …) stayed writable in the build;
* ``memory_limit`` (opt-in) sets ``linux.resources.memory`` (limit and memory+swap).
"""

from __future__ import annotations

import uuid
from typing import Any

from pytest_snixbuild.oci.errors import SpecError
from pytest_snixbuild.oci.scratch import scratch_name, symlink_input_locations
from pytest_snixbuild.oci.subuid import BUILD_GID, BUILD_UID, IdMappings, host_id_mappings
from pytest_snixbuild.request.model import BuildConstraints, BuildRequest

#: what runc 1.1.5 (``runc spec``) and crun 1.8.1 accept; runtime-tools accepts only this
OCI_VERSION = "1.0.2-dev"
HOSTNAME = "localhost"
#: bundle-relative directory names
ROOT_DIR = "root"
INPUTS_DIR = "inputs"
SCRATCH_DIR = "scratch"

#: capabilities of the build user in rootless mode (all five sets), sorted
ROOTLESS_CAPABILITIES: tuple[str, ...] = (
    "CAP_AUDIT_WRITE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_MKNOD",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_RAW",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
)
#: capabilities of the build user in rootful mode (all five sets), sorted
ROOTFUL_CAPABILITIES: tuple[str, ...] = ("CAP_AUDIT_WRITE", "CAP_KILL")
CAPABILITY_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")

MASKED_PATHS: tuple[str, ...] = (
    "/proc/kcore",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
)
READONLY_PATHS: tuple[str, ...] = (
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)
#: host files bind-mounted read-only at the same place when the build has network access
NETWORK_FILES: tuple[str, ...] = ("/etc/resolv.conf", "/etc/services", "/etc/hosts")

SCRATCH_OPTIONS = ("rbind", "rw")
#: ``nosuid`` and ``nodev`` are needed: without them a rootless bind mount fails with EPERM
INPUT_OPTIONS = ("rbind", "ro", "nosuid", "nodev")
#: single host files (the sandbox shell, the network files): nothing can be mounted below them
RO_BIND_OPTIONS = ("rbind", "ro")
#: host directory trees: ``rro`` (runc >= 1.1, Linux >= 5.12) makes every submount read-only
#: too; ``ro`` alone applies to the top mount only, and the build could write to the rest
RO_TREE_OPTIONS = ("rbind", "ro", "rro")
NOFILE_LIMIT = 1024


def absolute(*parts: str) -> str:
    """``/`` joined with the non-empty relative ``parts`` (``absolute("nix/store", "x")``)."""
    return "/" + "/".join(p for p in parts if p)


def default_cgroups_path() -> str:
    """A fresh, single-level cgroups path: runc removes the leaf, so nothing is left behind."""
    return f"/snixbuild-{uuid.uuid4().hex}"


def _mount(
    destination: str, type_: str, source: str, options: tuple[str, ...] = ()
) -> dict[str, Any]:
    mount: dict[str, Any] = {"destination": destination, "type": type_, "source": source}
    if options:
        mount["options"] = list(options)
    return mount


def base_mounts(*, rootless: bool) -> list[dict[str, Any]]:
    """Mounts 1–8: oci-spec's default (or rootless) mounts plus snix's ``/tmp`` tmpfs."""
    devpts = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
    if not rootless:
        devpts.append("gid=5")
    if rootless:
        # rro: the host's /sys has submounts (fusectl, cgroup, debugfs, …) that a plain ro
        # leaves writable, and in a user namespace the build's CAP_DAC_OVERRIDE covers files of
        # host root (container root is host root)
        sys_mount = _mount(
            "/sys", "none", "/sys", ("nosuid", "noexec", "nodev", "ro", "rbind", "rro")
        )
    else:
        sys_mount = _mount("/sys", "sysfs", "sysfs", ("nosuid", "noexec", "nodev", "ro"))
    return [
        _mount("/proc", "proc", "proc"),
        _mount("/dev", "tmpfs", "tmpfs", ("nosuid", "strictatime", "mode=755", "size=65536k")),
        _mount("/dev/pts", "devpts", "devpts", tuple(devpts)),
        _mount(
            "/dev/shm", "tmpfs", "shm", ("nosuid", "noexec", "nodev", "mode=1777", "size=65536k")
        ),
        _mount("/dev/mqueue", "mqueue", "mqueue", ("nosuid", "noexec", "nodev")),
        sys_mount,
        _mount(
            "/sys/fs/cgroup", "cgroup", "cgroup", ("nosuid", "noexec", "nodev", "relatime", "ro")
        ),
        _mount("/tmp", "tmpfs", "tmpfs", ("nosuid", "noatime", "mode=700")),
    ]


def request_mounts(
    request: BuildRequest, constraints: BuildConstraints | None, *, sandbox_shell: str
) -> list[dict[str, Any]]:
    """The request's own mounts: scratch, inputs, read-only host paths, /bin/sh, network files."""
    mounts = [
        _mount(absolute(p), "none", f"{SCRATCH_DIR}/{scratch_name(p)}", SCRATCH_OPTIONS)
        for p in request.scratch_paths
    ]
    linked = symlink_input_locations(request)
    mounts += [
        _mount(absolute(request.inputs_dir, name), "none", f"{INPUTS_DIR}/{name}", INPUT_OPTIONS)
        for name in sorted(request.inputs)
        if name not in linked
    ]
    if constraints is None:
        return mounts
    for path in sorted(set(constraints.available_ro_paths)):
        if not path.startswith("/"):
            raise SpecError(
                f"constraints.available_ro_paths: {path!r} is not an absolute host path"
            )
        mounts.append(_mount(path, "none", path, RO_TREE_OPTIONS))
    if constraints.provide_bin_sh:
        if not sandbox_shell.startswith("/"):
            raise SpecError(
                f"sandbox shell {sandbox_shell!r} is not an absolute path: provide_bin_sh "
                "bind-mounts it at /bin/sh, so it must be an absolute host path"
            )
        mounts.append(_mount("/bin/sh", "none", sandbox_shell, RO_BIND_OPTIONS))
    if constraints.network_access:
        mounts += [_mount(p, "none", p, RO_BIND_OPTIONS) for p in NETWORK_FILES]
    return mounts


def environment(request: BuildRequest) -> list[str]:
    """``KEY=VALUE`` strings in request order; values must be UTF-8 (snix panics otherwise)."""
    env = []
    for var in request.environment_vars:
        try:
            value = var.value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SpecError(
                f"environment_vars: the value of {var.key!r} is not valid UTF-8 "
                f"(byte {exc.start}: {var.value[exc.start : exc.start + 1]!r}); "
                "the OCI spec holds the environment as strings"
            ) from None
        env.append(f"{var.key}={value}")
    return env


def process(request: BuildRequest, *, rootless: bool) -> dict[str, Any]:
    """``process``: user 1000:100, args, env, cwd, capabilities, rlimits, noNewPrivileges."""
    caps = ROOTLESS_CAPABILITIES if rootless else ROOTFUL_CAPABILITIES
    return {
        "terminal": False,
        "user": {"uid": BUILD_UID, "gid": BUILD_GID},
        "args": list(request.command_args),
        "env": environment(request),
        "cwd": absolute(request.working_dir),
        # all five sets equal, so inheritable ⊇ ambient and ambient ⊆ permitted hold
        "capabilities": {name: list(caps) for name in CAPABILITY_SETS},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": NOFILE_LIMIT, "soft": NOFILE_LIMIT}],
        "noNewPrivileges": True,
    }


def resources(memory_limit: int | None) -> dict[str, Any]:
    """``linux.resources``: oci-spec's empty device list, plus the memory limit if there is one.

    The limit applies to memory and to memory+swap alike, so the build cannot swap; the kernel's
    OOM killer ends a build that needs more (runc exits 137).
    """
    res: dict[str, Any] = {"devices": []}
    if memory_limit is not None:
        if isinstance(memory_limit, bool) or not isinstance(memory_limit, int) or memory_limit < 1:
            raise SpecError(
                f"memory_limit is {memory_limit!r}: expected a positive number of bytes"
            )
        res["memory"] = {"limit": memory_limit, "swap": memory_limit}
    return res


def linux(
    constraints: BuildConstraints | None,
    *,
    rootless: bool,
    mappings: IdMappings,
    cgroups_path: str,
    memory_limit: int | None = None,
) -> dict[str, Any]:
    """``linux``: id mappings, resources, cgroupsPath, namespaces, masked and read-only paths."""
    namespaces = ["pid", "ipc", "uts", "mount"]
    if constraints is None or not constraints.network_access:
        namespaces.append("network")
    if rootless:
        namespaces.append("user")
    return {
        "uidMappings": [m.to_oci() for m in mappings.uid_map],
        "gidMappings": [m.to_oci() for m in mappings.gid_map],
        "resources": resources(memory_limit),
        "cgroupsPath": cgroups_path,
        "namespaces": [{"type": t} for t in namespaces],
        "maskedPaths": list(MASKED_PATHS),
        "readonlyPaths": list(READONLY_PATHS),
    }


def make_spec(
    request: BuildRequest,
    *,
    rootless: bool,
    sandbox_shell: str,
    mappings: IdMappings | None = None,
    cgroups_path: str | None = None,
    memory_limit: int | None = None,
) -> dict[str, Any]:
    """The runtime spec for ``request``, as JSON data in snix's key order.

    ``rootless`` adds a user namespace (and the rootless mounts and 14 capabilities);
    ``sandbox_shell`` is the absolute host path mounted at ``/bin/sh`` when the request asks for
    it. Without ``mappings`` the running user's are read; without ``cgroups_path`` a fresh one is
    drawn (:func:`default_cgroups_path`). ``memory_limit`` (bytes) caps the build's cgroup
    (:func:`resources`); None, the default, sets no limit, as snix.
    """
    if mappings is None:
        mappings = host_id_mappings(rootless=rootless)
    if cgroups_path is None:
        cgroups_path = default_cgroups_path()
    if not cgroups_path:
        raise SpecError("cgroups_path must not be empty: every build needs its own cgroup")
    constraints = request.constraints
    return {
        "ociVersion": OCI_VERSION,
        "root": {"path": ROOT_DIR, "readonly": True},
        "mounts": base_mounts(rootless=rootless)
        + request_mounts(request, constraints, sandbox_shell=sandbox_shell),
        "process": process(request, rootless=rootless),
        "hostname": HOSTNAME,
        "annotations": {},
        "linux": linux(
            constraints,
            rootless=rootless,
            mappings=mappings,
            cgroups_path=cgroups_path,
            memory_limit=memory_limit,
        ),
    }
