"""Grouping store paths into image layers, after Nixery's popularity layering (docs/images.md).

Input: every store path of the image with its own size and its references (a closed set: each
reference is itself one of the paths). Output: groups of store paths, one layer each, at most
``budget`` of them, in the order the manifest lists them.

1. **Graph.** A synthetic root gets an edge to every *top-level* path (one no other path refers
   to); each path has an edge to each of its references (self references are dropped). Paths on a
   reference cycle that nothing outside the cycle refers to get a root edge too (the smallest
   such path first, until everything is reachable).
2. **Popular or large paths** also get an edge from the root: *popular* means referred to by at
   least ``popular_threshold`` other paths of the image (or, with a ``popularity`` table as
   Nixery's ``popcount`` makes, a count at least the threshold); *large* means a closure of at
   least ``large_threshold`` bytes.
3. **Dominator tree** from the root. Each child of the root starts a candidate group: itself and
   everything it dominates (paths only it leads to). A popular path therefore always starts its own
   group, and a library used by one program only travels with that program.
4. **Rating** of a group: popularity of its first path × the group's size in bytes.
5. **Budget.** While there are more groups than ``budget``, the two lowest-rated groups (ties:
   the one whose smallest store path sorts first) merge; the merged group's rating is the sum.
6. **Order.** Groups are listed by rating, highest first (ties by smallest store path), so that
   popular, shared paths sit at the bottom of the image, where they are most likely to be shared
   with other images.

Everything is a pure function of the inputs: the same paths give the same groups.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pytest_snixbuild.image.dominators import immediate_dominators, postorder
from pytest_snixbuild.image.errors import ImageInputError, ImageOptionError

#: Nixery's budget: 94 store-path layers plus its symlink layer
DEFAULT_MAX_LAYERS = 95
#: referred to by this many other paths of the image: own layer
DEFAULT_POPULAR_THRESHOLD = 3
#: closure at least this large (bytes, Nixery's 100 MB): own layer
DEFAULT_LARGE_THRESHOLD = 100_000_000


@dataclass(frozen=True)
class LayeringPolicy:
    """When a path deserves a layer of its own, and where popularity comes from."""

    popular_threshold: int = DEFAULT_POPULAR_THRESHOLD
    large_threshold: int = DEFAULT_LARGE_THRESHOLD
    #: package name (store path basename without ``<hash>-``) -> count, as Nixery's popcount;
    #: None: the number of paths of the image that refer to the path
    popularity: Mapping[str, int] | None = None

    def __post_init__(self) -> None:
        if self.popular_threshold < 1:
            raise ImageOptionError(
                f"popular_threshold is {self.popular_threshold}: expected at least 1"
            )
        if self.large_threshold < 1:
            raise ImageOptionError(
                f"large_threshold is {self.large_threshold}: expected at least 1 byte"
            )


@dataclass(frozen=True)
class PathSpec:
    """One store path as the layering sees it: its own size (bytes) and its references."""

    store_path: str
    size: int
    references: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LayerGroup:
    """The store paths of one layer (sorted), the dominator subtrees merged into it (their first
    paths, sorted), their total size and the merge rating."""

    store_paths: tuple[str, ...]
    roots: tuple[str, ...]
    size: int
    rating: int

    @property
    def key(self) -> str:
        """The tie-breaker: the group's smallest store path."""
        return self.store_paths[0]


@dataclass(frozen=True)
class GraphAnalysis:
    """What the layering computed, for inspection, tests and documentation."""

    #: every store path, sorted
    paths: tuple[str, ...]
    #: paths no other path refers to, sorted
    top_level: tuple[str, ...]
    #: the popularity used for ratings (at least 1)
    popularity: Mapping[str, int]
    #: bytes of each path's closure (itself included)
    closure_size: Mapping[str, int]
    #: paths given a root edge for being popular or large, sorted
    separated: tuple[str, ...]
    #: immediate dominator of each path; None means the synthetic root
    idom: Mapping[str, str | None] = field(default_factory=dict)


def package_name(store_path: str) -> str:
    """``/nix/store/<hash>-name`` -> ``name`` (the whole basename when it has no ``-``)."""
    base = store_path.rstrip("/").rsplit("/", 1)[-1]
    return base.split("-", 1)[1] if "-" in base else base


def _check_graph(paths: Sequence[PathSpec]) -> dict[str, PathSpec]:
    by_path: dict[str, PathSpec] = {}
    for spec in paths:
        if spec.store_path in by_path:
            raise ImageInputError(f"store path {spec.store_path} is given twice")
        if spec.size < 0:
            raise ImageInputError(f"store path {spec.store_path} has size {spec.size}")
        by_path[spec.store_path] = spec
    for spec in paths:
        for ref in sorted(spec.references):
            if ref not in by_path:
                raise ImageInputError(
                    f"store path {spec.store_path} refers to {ref}, which is not among the "
                    "image's store paths (an image needs the whole closure: add it)"
                )
    return by_path


def _closure_sizes(
    order: Sequence[str], succ: Sequence[Sequence[int]], sizes: list[int]
) -> dict[str, int]:
    result: dict[str, int] = {}
    for i, path in enumerate(order, start=1):
        result[path] = sum(sizes[j] for j in postorder(succ, i))
    return result


def analyse(paths: Sequence[PathSpec], policy: LayeringPolicy | None = None) -> GraphAnalysis:
    """Steps 1–3: the graph, popularity, closure sizes and the dominator tree."""
    policy = policy or LayeringPolicy()
    by_path = _check_graph(paths)
    order = sorted(by_path)
    index = {p: i for i, p in enumerate(order, start=1)}
    n = len(order) + 1
    succ: list[list[int]] = [[] for _ in range(n)]
    referrers = dict.fromkeys(order, 0)
    for p in order:
        refs = sorted(r for r in by_path[p].references if r != p)
        succ[index[p]] = [index[r] for r in refs]
        for r in refs:
            referrers[r] += 1
    sizes = [0] + [by_path[p].size for p in order]
    closure = _closure_sizes(order, succ, sizes)
    if policy.popularity is None:
        raw = dict(referrers)
    else:
        raw = {p: policy.popularity.get(package_name(p), 1) for p in order}
    top_level = [p for p in order if referrers[p] == 0]
    separated = [
        p
        for p in order
        if referrers[p] > 0
        and (raw[p] >= policy.popular_threshold or closure[p] >= policy.large_threshold)
    ]
    root_edges = {index[p] for p in top_level + separated}
    succ[0] = sorted(root_edges)
    reached = set(postorder(succ, 0))
    for p in order:  # reference cycles nothing else leads to
        if index[p] not in reached:
            root_edges.add(index[p])
            succ[0] = sorted(root_edges)
            reached = set(postorder(succ, 0))
    idom = immediate_dominators(succ, 0)
    idom_of: dict[str, str | None] = {}
    for p in order:
        d = idom[index[p]]
        assert d is not None  # everything is reachable now
        idom_of[p] = None if d == 0 else order[d - 1]
    return GraphAnalysis(
        paths=tuple(order),
        top_level=tuple(top_level),
        popularity={p: max(1, raw[p]) for p in order},
        closure_size=closure,
        separated=tuple(separated),
        idom=idom_of,
    )


def candidate_groups(analysis: GraphAnalysis, sizes: Mapping[str, int]) -> list[LayerGroup]:
    """Step 4: one group per child of the root in the dominator tree, with its rating."""
    top: dict[str, str] = {}

    def group_root(path: str) -> str:
        chain = []
        current = path
        while current not in top:
            parent = analysis.idom[current]
            if parent is None:
                top[current] = current
                break
            chain.append(current)
            current = parent
        found = top[current]
        for c in chain:
            top[c] = found
        return found

    members: dict[str, list[str]] = {}
    for p in analysis.paths:
        members.setdefault(group_root(p), []).append(p)
    groups = []
    for root, paths in members.items():
        size = sum(sizes[p] for p in paths)
        groups.append(
            LayerGroup(
                store_paths=tuple(sorted(paths)),
                roots=(root,),
                size=size,
                rating=analysis.popularity[root] * size,
            )
        )
    return sorted(groups, key=lambda g: g.key)


def merge(a: LayerGroup, b: LayerGroup) -> LayerGroup:
    """Two groups as one layer."""
    return LayerGroup(
        store_paths=tuple(sorted(a.store_paths + b.store_paths)),
        roots=tuple(sorted(a.roots + b.roots)),
        size=a.size + b.size,
        rating=a.rating + b.rating,
    )


def merge_to_budget(groups: Iterable[LayerGroup], budget: int) -> list[LayerGroup]:
    """Step 5: merge the two lowest-rated groups until at most ``budget`` remain."""
    if budget < 1:
        raise ImageOptionError(f"layer budget is {budget}: expected at least 1")
    heap = [(g.rating, g.key, g) for g in groups]
    heapq.heapify(heap)
    while len(heap) > budget:
        _, _, a = heapq.heappop(heap)
        _, _, b = heapq.heappop(heap)
        merged = merge(a, b)
        heapq.heappush(heap, (merged.rating, merged.key, merged))
    return [g for _, _, g in heap]


def manifest_order(groups: Iterable[LayerGroup]) -> list[LayerGroup]:
    """Step 6: highest rating first, ties by smallest store path."""
    return sorted(groups, key=lambda g: (-g.rating, g.key))


def plan_layers(
    paths: Sequence[PathSpec], budget: int, policy: LayeringPolicy | None = None
) -> list[LayerGroup]:
    """The layers of the store paths, at most ``budget`` of them, in manifest order."""
    if budget < 1:
        raise ImageOptionError(f"layer budget is {budget}: expected at least 1")
    if not paths:
        return []
    analysis = analyse(paths, policy)
    sizes = {p.store_path: p.size for p in paths}
    return manifest_order(merge_to_budget(candidate_groups(analysis, sizes), budget))
