"""Test data: large files, trees of small files, store-hash needles, haystacks; and scratch space.

Large files are built from one random block repeated with a distinct byte per copy, so that
writing 1 GiB costs about as much as copying it (``os.urandom`` of 1 GiB would take seconds);
hashing and scanning see no difference.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.measure import MIB

NIXBASE32 = b"0123456789abcdfghijklmnpqrsvwxyz"
#: scratch space (stores, bundles, outputs: one file system, so outputs can be hard-linked) lives
#: where pytest's does. Not /var/tmp: on this VM creating a file there took 0.8 ms against 0.1 ms
#: in /tmp on the same ext4 (its inode allocation group is crowded).
SCRATCH_PARENT = Path(tempfile.gettempdir())
SCRATCH_PREFIX = "snixbuild-bench-"


@contextlib.contextmanager
def scratch_dir(label: str) -> Iterator[Path]:
    """A temporary directory, removed on the way out whatever happened (even read-only files)."""
    path = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{label}-", dir=SCRATCH_PARENT))
    try:
        yield path
    finally:
        remove_tree(path)


def remove_tree(path: Path) -> None:
    def make_writable(func: object, name: str, exc_info: object) -> None:
        parent = os.path.dirname(name)
        with contextlib.suppress(OSError):
            os.chmod(parent, 0o700)
        with contextlib.suppress(OSError):
            if os.path.isdir(name) and not os.path.islink(name):
                shutil.rmtree(name, ignore_errors=True)
            else:
                os.unlink(name)

    shutil.rmtree(path, onerror=make_writable)


def store_hash(rng: random.Random) -> str:
    """A random 32-character nix-base32 string, like a store path's hash part."""
    return bytes(rng.choice(NIXBASE32) for _ in range(32)).decode()


def needles(rng: random.Random, count: int) -> list[str]:
    return [store_hash(rng) for _ in range(count)]


def big_file(path: Path, size: int, plants: Sequence[bytes] = (), block: int = 64 * MIB) -> None:
    """``size`` bytes (a multiple of 1 MiB) of pseudo-random data, ``plants`` written once each
    at spread-out offsets."""
    data = bytearray(os.urandom(min(block, size)))
    spacing = size // (len(plants) + 1) if plants else 0
    with open(path, "wb") as f:
        written = 0
        while written < size:
            n = min(len(data), size - written)
            data[0] = (written // len(data)) % 256
            chunk = bytearray(data[:n])
            for i, plant in enumerate(plants):
                at = spacing * (i + 1) - written
                if 0 <= at < n - len(plant):
                    chunk[at : at + len(plant)] = plant
            f.write(chunk)
            written += n


def small_tree(path: Path, count: int, dirs: int = 100) -> None:
    """``count`` files of about 60 bytes, each with its own contents, in ``dirs`` directories."""
    per_dir = max(count // dirs, 1)
    made = 0
    for d in range(dirs):
        sub = path / f"d{d:03d}"
        sub.mkdir(parents=True)
        for i in range(per_dir):
            if made == count:
                return
            (sub / f"f{i:04d}").write_text(f"small file {d}/{i}\n" * 3)
            made += 1


def haystack(
    size: int, needle_list: Sequence[str], rng: random.Random, plants: int, text: bool = False
) -> bytes:
    """Random bytes (``text``: random nix-base32 letters in 80-column lines, where every byte can
    start a needle) with ``plants`` ``/nix/store/<needle>-foo`` strings planted."""
    data = bytearray()
    while len(data) < size:  # randbytes of more than 256 MiB overflows
        data += rng.randbytes(min(16 * MIB, size - len(data)))
    if text:
        data = bytearray(data.translate(bytes(NIXBASE32[i % 32] for i in range(256))))
        data[79::80] = b"\n" * len(range(79, size, 80))
    for i in range(plants):
        plant = f"/nix/store/{needle_list[i % len(needle_list)]}-foo".encode()
        at = rng.randrange(size - len(plant))
        data[at : at + len(plant)] = plant
    return bytes(data)


def warm_page_cache(path: Path) -> None:
    """Read a file once so that it is in the page cache (like a just-written output)."""
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(16 * MIB)
        while f.readinto(buf):
            pass
