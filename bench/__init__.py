"""pytest-snixbuild's benchmarks: every figure next to a baseline measured in the same run.

``python -m bench [--quick] [--only NAME[,NAME…]] [--runs N] [--no-write] [-v]`` runs the rows
of :data:`bench.cli.ROWS`, prints the table and writes it into ``docs/performance.md`` (see
docs/performance.md for what each row measures and why). Needs root, runc, FUSE, a static
busybox, Nix 2.8, b3sum and ripgrep, like the real-runc tests. Benchmarks are not tests: nothing
here asserts a time.

Extra comparisons kept from earlier work: ``python -m bench.fuse_configs`` (FUSE backends and
options) and ``python -m bench.refscan_variants`` (scanner entry points, adversarial text).
"""
