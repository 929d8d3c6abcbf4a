"""OCIBuildService end to end: real runc, real FUSE, an on-disk castore, rootless and rootful.

After every build test the fixture checks that nothing was left behind: no FUSE mount below the
bundle root, no container in the runtime's state directory, no bundle directory.
"""

from __future__ import annotations

import _thread
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from snix_engine_helpers import fuse_mounts_below, processes_with_arg

from pytest_snixbuild.castore.blobs import LocalBlobService, shard_path
from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nodes import DirectoryNode, FileNode, Node, SymlinkNode
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.errors import (
    BuildFailedError,
    BuildTimeoutError,
    MissingOutputError,
    OutputIngestError,
    RequestValidationError,
    RuntimeFailedError,
)
from pytest_snixbuild.engine.service import RUNTIME_STATE_DIR, OCIBuildService
from pytest_snixbuild.request.model import BuildRequest, EnvVar

pytestmark = pytest.mark.snix_runc

STORE = "nix/store"
H_OUT = "bhg1c6wywawwaaivx0k0x8xhbyx4vwic"
H_DEV = "flh4511s7fl3iz41dylfrcc8davh7naw"
H_LIB = "v137y81wxx44zx8nln1b4xhj75bs7dbn"
H_CFG = "cqpygxchhbrk2a5c3l2shj8chbkj6zg6"


def out_path(hash_part: str, name: str) -> str:
    return f"{STORE}/{hash_part}-{name}"


def request(
    script: str,
    outputs: dict[str, str],
    *,
    needles: tuple[str, ...] = (),
    inputs: dict[str, Node] | None = None,
) -> BuildRequest:
    """``/bin/sh -c script`` with one env var per output (name -> absolute path)."""
    return BuildRequest(
        command_args=("/bin/sh", "-c", script),
        outputs=tuple(sorted(outputs.values())),
        environment_vars=tuple(
            sorted((EnvVar(k, ("/" + v).encode()) for k, v in outputs.items()), key=lambda e: e.key)
        ),
        refscan_needles=needles,
        inputs=inputs or {},
    )


def assert_nothing_left(service: OCIBuildService) -> None:
    root = service.bundle_root
    assert fuse_mounts_below(root) == []
    assert service.runtime.list_containers() == []
    assert sorted(p.name for p in root.iterdir()) == [RUNTIME_STATE_DIR]
    assert list((root / RUNTIME_STATE_DIR).iterdir()) == []


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "store")


@pytest.fixture(params=[True, False], ids=["rootless", "rootful"])
def service(
    request: pytest.FixtureRequest, tmp_path: Path, store: Store
) -> Iterator[OCIBuildService]:
    svc = OCIBuildService.from_store(tmp_path / "bundles", store, rootless=request.param)
    yield svc
    assert_nothing_left(svc)


def host_tree(base: Path) -> Path:
    """A tree with every node type: files (plain, executable, empty), a nested dir, symlinks."""
    base.mkdir()
    (base / "README").write_text("top-level file\n")
    (base / "empty").write_bytes(b"")
    deep = base / "sub" / "deeper" / "deepest"
    deep.mkdir(parents=True)
    (deep / "leaf.txt").write_text("deep leaf\n")
    tool = base / "sub" / "tool.sh"
    tool.write_text("#!/bin/sh\necho tool ran\n")
    tool.chmod(0o755)
    (base / "link-to-leaf").symlink_to("sub/deeper/deepest/leaf.txt")
    (base / "dangling").symlink_to("/nowhere/at/all")
    return base


def read_file(store: Store, node: Node) -> bytes:
    assert isinstance(node, FileNode)
    with store.blobs.open_read(node.digest) as f:
        return f.read()


# -- outputs --------------------------------------------------------------------------------------
def test_file_output(service: OCIBuildService, store: Store) -> None:
    out = out_path(H_OUT, "hello")
    result = service.build(request("echo hello > $out; echo done; echo note >&2", {"out": out}))
    assert [o.path for o in result.outputs] == [out]
    node = result.outputs[0].node
    assert node == FileNode(B3Digest.of(b"hello\n"), 6, executable=False)
    assert read_file(store, node) == b"hello\n"
    assert result.stdout == b"done\n"
    assert result.stderr == b"note\n"
    assert result.exit_code == 0


def test_executable_and_symlink_outputs(service: OCIBuildService) -> None:
    tool, link = out_path(H_OUT, "tool"), out_path(H_DEV, "link")
    script = "printf '#!/bin/sh\\n' > $tool; chmod 555 $tool; ln -s /etc/passwd $link"
    result = service.build(request(script, {"tool": tool, "link": link}))
    nodes = {o.path: o.node for o in result.outputs}
    assert nodes[tool] == FileNode(B3Digest.of(b"#!/bin/sh\n"), 10, executable=True)
    assert nodes[link] == SymlinkNode(b"/etc/passwd")


def test_directory_output_matches_host_ingestion(
    service: OCIBuildService, store: Store, tmp_path: Path
) -> None:
    out = out_path(H_OUT, "tree")
    script = """
    set -e
    mkdir -p $out/sub/deeper/deepest $out/emptydir
    echo 'top-level file' > $out/README
    : > $out/empty
    echo 'deep leaf' > $out/sub/deeper/deepest/leaf.txt
    printf '#!/bin/sh\\necho tool ran\\n' > $out/sub/tool.sh
    chmod 755 $out/sub/tool.sh
    ln -s sub/deeper/deepest/leaf.txt $out/link-to-leaf
    ln -s /nowhere/at/all $out/dangling
    chmod 555 $out/sub
    """
    result = service.build(request(script, {"out": out}))
    expected = host_tree(tmp_path / "expected")
    (expected / "emptydir").mkdir()
    assert result.outputs[0].node == ingest_path(expected, store)
    assert isinstance(result.outputs[0].node, DirectoryNode)


# -- inputs ---------------------------------------------------------------------------------------
def test_inputs_of_every_type_are_readable_with_snix_modes(
    service: OCIBuildService, store: Store, tmp_path: Path
) -> None:
    """Files, executables, a top-level symlink, a deep tree with symlinks, an empty file:
    modes 444/555 as snix."""
    plain = tmp_path / "plain.txt"
    plain.write_text("plain input\n")
    tool = tmp_path / "tool.sh"
    tool.write_text("#!/bin/sh\necho executable input ran\n")
    tool.chmod(0o755)
    inputs = {
        f"{H_LIB}-plain": ingest_path(plain, store),
        f"{H_CFG}-tool": ingest_path(tool, store),
        f"{H_DEV}-link": SymlinkNode(f"/{STORE}/{H_LIB}-plain".encode()),
        f"{H_OUT}-tree": ingest_path(host_tree(tmp_path / "tree"), store),
    }
    out = out_path("0ywz4pjijh8gd6c60fl1dl1c23v3dsb5", "report")
    script = f"""
    set -e
    s=/{STORE}
    {{
      cat $s/{H_LIB}-plain
      $s/{H_CFG}-tool
      readlink $s/{H_DEV}-link
      cat $s/{H_DEV}-link
      t=$s/{H_OUT}-tree
      cat $t/README $t/link-to-leaf $t/sub/deeper/deepest/leaf.txt
      $t/sub/tool.sh
      readlink $t/dangling
      wc -c < $t/empty
      stat -c '%a %F %n' $s/{H_LIB}-plain $s/{H_CFG}-tool $t $t/sub $t/empty $t/sub/tool.sh
      ls $t
      if echo x > $t/new 2>/dev/null; then echo writable; else echo read-only; fi
    }} > $out
    """
    result = service.build(request(script, {"out": out}, inputs=inputs))
    report = read_file(store, result.outputs[0].node).decode()
    tree = f"/{STORE}/{H_OUT}-tree"
    assert report.split("\n") == [
        "plain input",
        "executable input ran",
        f"/{STORE}/{H_LIB}-plain",
        "plain input",
        "top-level file",
        "deep leaf",
        "deep leaf",
        "tool ran",
        "/nowhere/at/all",
        "0",
        f"444 regular file /{STORE}/{H_LIB}-plain",
        f"555 regular file /{STORE}/{H_CFG}-tool",
        f"555 directory {tree}",
        f"555 directory {tree}/sub",
        f"444 regular empty file {tree}/empty",
        f"555 regular file {tree}/sub/tool.sh",
        "README",
        "dangling",
        "empty",
        "link-to-leaf",
        "sub",
        "read-only",
        "",
    ]


# -- needles --------------------------------------------------------------------------------------
def test_needles_in_contents_and_symlink_targets(service: OCIBuildService) -> None:
    out = out_path(H_OUT, "needles")
    absent = "i7q50s6rr6lvk5dlljrw3lxgvv5hz2m0"
    script = f"""
    mkdir $out
    echo "uses /{STORE}/{H_LIB}-lib at run time" > $out/doc
    ln -s /{STORE}/{H_CFG}-cfg $out/config
    echo {absent[:10]} > $out/partial
    """
    result = service.build(request(script, {"out": out}, needles=(H_LIB, H_CFG, absent)))
    assert result.outputs[0].needles == (0, 1)


def test_needles_across_chunk_boundaries(service: OCIBuildService) -> None:
    """A needle across the 4 MiB scan window and one across the middle of a 40 MiB file (where
    the two scan threads meet), each in its own output."""
    small, big = out_path(H_OUT, "small"), out_path(H_DEV, "big")
    window = 4 << 20
    half = 20 << 20
    script = f"""
    set -e
    {{ head -c {window - 10} /dev/zero; printf '{H_LIB}'; head -c 100 /dev/zero; }} > $small
    {{ head -c {half - 16} /dev/zero; printf '{H_CFG}'; head -c {half - 16} /dev/zero; }} > $big
    """
    result = service.build(request(script, {"small": small, "big": big}, needles=(H_LIB, H_CFG)))
    by_path = {o.path: o for o in result.outputs}
    assert by_path[small].needles == (0,)
    assert by_path[big].needles == (1,)
    big_node = by_path[big].node
    assert isinstance(big_node, FileNode)
    assert big_node.size == 2 * half


def test_needles_are_per_output(service: OCIBuildService, store: Store, tmp_path: Path) -> None:
    lib_file = tmp_path / "lib"
    lib_file.write_text("a library\n")
    out, dev = out_path(H_OUT, "multi-out"), out_path(H_DEV, "multi-dev")
    script = f"""
    set -e
    mkdir -p $out/bin $dev/include
    echo "headers for $out" > $dev/include/lib.h
    printf '#!/bin/sh\\necho dev is at %s\\n' "$dev" > $out/bin/tool
    chmod +x $out/bin/tool
    ln -s /{STORE}/{H_LIB}-lib $out/lib
    """
    result = service.build(
        request(
            script,
            {"out": out, "dev": dev},
            needles=(H_OUT, H_DEV, H_LIB),
            inputs={f"{H_LIB}-lib": ingest_path(lib_file, store)},
        )
    )
    by_path = {o.path: o.needles for o in result.outputs}
    assert by_path == {out: (1, 2), dev: (0,)}


def test_short_haystack_rule(service: OCIBuildService) -> None:
    """snix skips haystacks shorter than the longest needle, even if a short needle is inside."""
    out = out_path(H_OUT, "short")
    long_needle = "x" * 64
    script = "mkdir $out; printf 'abcd' > $out/short; printf 'abcd%064d' 0 > $out/long"
    result = service.build(request(script, {"out": out}, needles=("abcd", long_needle)))
    assert result.outputs[0].needles == (0,)  # found in `long` only
    result = service.build(
        request("printf 'abcd' > $out", {"out": out}, needles=("abcd", long_needle))
    )
    assert result.outputs[0].needles == ()


# -- failures -------------------------------------------------------------------------------------
def test_failing_build(service: OCIBuildService) -> None:
    out = out_path(H_OUT, "fail")
    with pytest.raises(BuildFailedError) as caught:
        service.build(request("echo 'compiling'; echo 'about to fail' >&2; exit 3", {"out": out}))
    err = caught.value
    assert err.exit_code == 3
    assert err.exit_status == 100
    assert err.stderr_tail == "about to fail"
    assert err.stdout_tail == "compiling"
    assert "exited with status 3" in str(err)
    assert "about to fail" in str(err)
    assert err.bundle_path is None


def test_timeout(service: OCIBuildService) -> None:
    tag = f"snixtest-{uuid.uuid4().hex}"
    out = out_path(H_OUT, "slow")
    with pytest.raises(BuildTimeoutError) as caught:
        service.build(request(f"echo started; sleep 60; : {tag}", {"out": out}), timeout=1.0)
    assert caught.value.timeout == 1.0
    assert caught.value.stdout_tail == "started"
    assert "timed out after 1 s" in str(caught.value)
    assert processes_with_arg(tag) == []


def test_missing_output(service: OCIBuildService) -> None:
    made, missing = out_path(H_OUT, "made"), out_path(H_DEV, "forgotten")
    with pytest.raises(MissingOutputError) as caught:
        service.build(
            request("echo made > $made; echo 'forgot dev' >&2", {"made": made, "x": missing})
        )
    assert caught.value.output_path == missing
    assert missing in str(caught.value)
    assert "forgot dev" in str(caught.value)


def test_special_file_output_is_an_ingest_error(service: OCIBuildService) -> None:
    out = out_path(H_OUT, "fifo")
    with pytest.raises(OutputIngestError, match="fifo"):
        service.build(request("mkfifo $out", {"out": out}))


def test_runtime_error(service: OCIBuildService) -> None:
    out = out_path(H_OUT, "never")
    bad = BuildRequest(command_args=("/no/such/builder",), outputs=(out,))
    with pytest.raises(RuntimeFailedError) as caught:
        service.build(bad)
    assert "/no/such/builder" in caught.value.runtime_message
    assert caught.value.exit_status == 125


def test_invalid_request_runs_nothing(service: OCIBuildService) -> None:
    bad = BuildRequest(command_args=("/bin/sh", "-c", "true"), outputs=("b/out", "a/out"))
    with pytest.raises(RequestValidationError, match="outputs"):
        service.build(bad)


def test_keep_failed_keeps_the_bundle_only(tmp_path: Path, store: Store) -> None:
    svc = OCIBuildService.from_store(tmp_path / "bundles", store, keep_failed=True)
    out = out_path(H_OUT, "kept")
    with pytest.raises(BuildFailedError) as caught:
        svc.build(request("echo partial > $out; exit 1", {"out": out}))
    kept = caught.value.bundle_path
    assert kept is not None
    assert str(kept) in str(caught.value)
    assert (kept / "config.json").is_file()
    assert (kept / "runtime-log.json").is_file()
    assert fuse_mounts_below(svc.bundle_root) == []
    assert svc.runtime.list_containers() == []
    # a successful build with keep_failed still removes its bundle
    svc.build(request("echo ok > $out", {"out": out}))
    assert sorted(p.name for p in svc.bundle_root.iterdir()) == sorted(
        [RUNTIME_STATE_DIR, kept.name]
    )


def test_keyboard_interrupt_during_a_build(
    service: OCIBuildService, store: Store, tmp_path: Path
) -> None:
    """Ctrl-C while the builder runs, with inputs mounted: everything is cleaned up."""
    tag = f"snixtest-{uuid.uuid4().hex}"
    lib = tmp_path / "lib"
    lib.write_text("lib\n")
    req = request(
        f"sleep 60; : {tag}",
        {"out": out_path(H_OUT, "interrupted")},
        inputs={f"{H_LIB}-lib": ingest_path(lib, store)},
    )
    mounted: list[str] = []

    def interrupt_when_running() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(c.status == "running" for c in service.runtime.list_containers()):
                mounted.extend(fuse_mounts_below(service.bundle_root))
                break
            time.sleep(0.05)
        _thread.interrupt_main()

    watcher = threading.Thread(target=interrupt_when_running)
    watcher.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            service.build(req, timeout=60)
    finally:
        watcher.join()
    assert len(mounted) == 1  # the inputs were mounted while it ran
    assert processes_with_arg(tag) == []


# -- concurrency ----------------------------------------------------------------------------------
def test_eight_parallel_builds(tmp_path: Path, store: Store) -> None:
    limit = 4
    svc = OCIBuildService.from_store(tmp_path / "bundles", store, max_concurrent_builds=limit)
    running_max = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal running_max
        while not stop.is_set():
            running_max = max(running_max, len(svc.runtime.list_containers()))
            time.sleep(0.02)

    results: dict[int, bytes] = {}
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            src = tmp_path / f"in{i}"
            src.write_text(f"input {i}\n")
            name = f"{i:032d}-in"
            result = svc.build(
                request(
                    f"sleep 0.3; cat /{STORE}/{name} > $out; echo built {i} >> $out",
                    {"out": out_path(f"{i:032d}".replace("0", "a"), "out")},
                    inputs={name: ingest_path(src, store)},
                )
            )
            results[i] = read_file(store, result.outputs[0].node)
        except BaseException as exc:
            errors.append(exc)

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    assert errors == []
    assert results == {i: f"input {i}\nbuilt {i}\n".encode() for i in range(8)}
    assert 1 <= running_max <= limit
    assert_nothing_left(svc)


def test_bundle_root_and_runtime_state_are_shared_safely(tmp_path: Path, store: Store) -> None:
    """Two services on one bundle root and one castore (as two xdist workers would be)."""
    a = OCIBuildService.from_store(tmp_path / "bundles", store)
    b = OCIBuildService.from_store(tmp_path / "bundles", Store.open(store.path or tmp_path))
    out = out_path(H_OUT, "same")
    req = request("echo same > $out", {"out": out})
    results = []

    def run(svc: OCIBuildService) -> None:
        results.append(svc.build(req).outputs[0].node)

    threads = [threading.Thread(target=run, args=(s,)) for s in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and len(set(results)) == 1
    assert_nothing_left(a)


def test_build_is_reported_with_duration(service: OCIBuildService) -> None:
    result = service.build(request("echo hi > $out", {"out": out_path(H_OUT, "d")}))
    assert result.duration > 0
    assert os.path.isdir(service.bundle_root)


def test_output_files_are_adopted_into_the_store(
    service: OCIBuildService, store: Store, tmp_path: Path
) -> None:
    """Outputs move into the on-disk store by hard link (read-only, ours); hard-linked outputs
    are copied, and every name keeps its own executable bit."""
    out = out_path(H_OUT, "adopted")
    script = """
    set -e
    mkdir $out
    echo single > $out/single
    echo shared > $out/a; chmod 755 $out/a; ln $out/a $out/b
    """
    result = service.build(request(script, {"out": out}))
    node = result.outputs[0].node
    assert isinstance(node, DirectoryNode)
    directory = store.get_directory(b"", node)
    assert directory[b"single"] == FileNode(B3Digest.of(b"single\n"), 7, executable=False)
    assert directory[b"a"] == directory[b"b"] == FileNode(B3Digest.of(b"shared\n"), 7, True)
    assert store.blobs.backing_path(B3Digest.of(b"single\n")) is not None
    assert isinstance(store.blobs, LocalBlobService)
    blob = shard_path(store.blobs.root, B3Digest.of(b"single\n"))
    st = blob.stat()
    assert (st.st_mode & 0o777, st.st_uid, st.st_nlink) == (0o444, os.geteuid(), 1)
    assert read_file(store, directory[b"a"]) == b"shared\n"
