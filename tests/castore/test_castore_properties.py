"""Property tests on random trees: ingest → export → ingest is the identity, and our NAR is
byte for byte what ``nix-store --dump`` writes (and our hash what ``nix-hash`` prints)."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_snixbuild.castore.ingest import export_node, ingest_path
from pytest_snixbuild.castore.nar import ingest_nar, iter_nar, iter_nar_path, nar_hash_path
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.nix.hashes import NixHash


@dataclass(frozen=True)
class File:
    data: bytes
    executable: bool


@dataclass(frozen=True)
class Link:
    target: bytes


Tree = File | Link | dict[bytes, "Tree"]

# Odd names: any bytes but NUL and '/', never '.' or '..', up to 255 bytes.
names = st.binary(min_size=1, max_size=24).filter(
    lambda n: b"\0" not in n and b"/" not in n and n not in (b".", b"..")
) | st.sampled_from([b"a", b"A", b".hidden", b" sp ace", b"\n", b"\xff\xfe", b"x" * 255])
targets = st.binary(min_size=1, max_size=64).filter(lambda t: b"\0" not in t)
files = st.builds(File, st.binary(max_size=300) | st.just(b""), st.booleans())
leaves: st.SearchStrategy[Tree] = st.one_of(files, st.builds(Link, targets))
trees: st.SearchStrategy[Tree] = st.recursive(
    leaves, lambda children: st.dictionaries(names, children, max_size=5), max_leaves=20
)
roots: st.SearchStrategy[Tree] = st.one_of(
    st.dictionaries(names, trees, max_size=5), leaves, st.just({})
)


def materialise(tree: Tree, path: bytes) -> None:
    """Create ``tree`` at ``path`` (a bytes path that does not exist yet), without recursion."""
    stack: list[tuple[Tree, bytes]] = [(tree, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, File):
            with open(where, "xb") as f:
                f.write(node.data)
            os.chmod(where, 0o755 if node.executable else 0o644)
        elif isinstance(node, Link):
            os.symlink(node.target, where)
        else:
            os.mkdir(where)
            stack.extend((child, os.path.join(where, name)) for name, child in node.items())


SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(roots)
def test_ingest_export_ingest_is_identity(tree: Tree) -> None:
    with tempfile.TemporaryDirectory(prefix="castore-prop-") as tmp:
        src = os.path.join(os.fsencode(tmp), b"src")
        materialise(tree, src)
        for store in (Store.memory(), Store.open(Path(tmp) / "store")):
            node = ingest_path(Path(os.fsdecode(src)), store)
            out = Path(tmp) / f"out-{id(store)}"
            export_node(node, store, out)
            assert ingest_path(out, store) == node
            # the NAR of the node reads back to the same node
            nar = b"".join(iter_nar(node, store))
            assert ingest_nar(io.BytesIO(nar), Store.memory()) == node


@settings(SETTINGS, max_examples=25)
@given(roots)
def test_nar_matches_nix(
    nix_dump: Callable[[Path], bytes], nix_hash: Callable[[Path], str], tree: Tree
) -> None:
    with tempfile.TemporaryDirectory(prefix="castore-nix-") as tmp:
        src = Path(tmp) / "src"
        materialise(tree, os.fsencode(src))
        ours = b"".join(iter_nar_path(src))
        assert ours == nix_dump(src)
        store = Store.memory()
        assert b"".join(iter_nar(ingest_path(src, store), store)) == ours
        assert NixHash("sha256", nar_hash_path(src)[0]).nix32 == nix_hash(src)
