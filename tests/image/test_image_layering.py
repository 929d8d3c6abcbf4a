"""Layering: the worked example of docs/images.md, popularity, size, budgets, cycles, errors and
determinism."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_snixbuild.image.errors import ImageInputError, ImageOptionError
from pytest_snixbuild.image.layering import (
    LayeringPolicy,
    PathSpec,
    analyse,
    candidate_groups,
    merge_to_budget,
    package_name,
    plan_layers,
)

H = "0" * 32


def sp(name: str) -> str:
    return f"/nix/store/{H}-{name}"


# The worked example of docs/images.md: two programs sharing glibc.
EXAMPLE_SIZES = {
    "app": 1_000_000,
    "libfoo": 2_000_000,
    "zlib": 100_000,
    "tools": 500_000,
    "bash": 1_500_000,
    "readline": 400_000,
    "ncurses": 600_000,
    "glibc": 30_000_000,
}
EXAMPLE_REFS = {
    "app": ["libfoo", "glibc"],
    "tools": ["bash", "glibc"],
    "libfoo": ["glibc", "zlib"],
    "bash": ["glibc", "readline"],
    "readline": ["ncurses"],
    "ncurses": ["glibc"],
}


def example() -> list[PathSpec]:
    return [
        PathSpec(sp(n), size, frozenset(sp(r) for r in EXAMPLE_REFS.get(n, [])))
        for n, size in EXAMPLE_SIZES.items()
    ]


def names(paths: tuple[str, ...]) -> list[str]:
    return [package_name(p) for p in paths]


def test_example_graph_analysis() -> None:
    a = analyse(example())
    assert names(a.top_level) == ["app", "tools"]
    assert names(a.separated) == ["glibc"]  # referred to by 5 paths >= 3
    assert a.popularity[sp("glibc")] == 5
    assert a.popularity[sp("app")] == 1  # nobody refers to it: counted as 1
    assert a.closure_size[sp("app")] == 33_100_000
    assert a.closure_size[sp("tools")] == 33_000_000
    idom = {package_name(p): (package_name(d) if d else None) for p, d in a.idom.items()}
    assert idom == {
        "app": None,
        "tools": None,
        "glibc": None,
        "libfoo": "app",
        "zlib": "libfoo",
        "bash": "tools",
        "readline": "bash",
        "ncurses": "readline",
    }


def test_example_candidate_groups_and_ratings() -> None:
    groups = candidate_groups(analyse(example()), {p.store_path: p.size for p in example()})
    summary = {package_name(g.roots[0]): (names(g.store_paths), g.size, g.rating) for g in groups}
    assert summary == {
        "app": (["app", "libfoo", "zlib"], 3_100_000, 3_100_000),
        "glibc": (["glibc"], 30_000_000, 150_000_000),
        "tools": (["bash", "ncurses", "readline", "tools"], 3_000_000, 3_000_000),
    }


def test_example_within_budget_keeps_every_group_most_popular_first() -> None:
    plan = plan_layers(example(), budget=3)
    assert [names(g.roots) for g in plan] == [["glibc"], ["app"], ["tools"]]


def test_example_budget_two_merges_the_two_lowest() -> None:
    plan = plan_layers(example(), budget=2)
    assert [names(g.store_paths) for g in plan] == [
        ["glibc"],
        ["app", "bash", "libfoo", "ncurses", "readline", "tools", "zlib"],
    ]
    assert plan[1].rating == 6_100_000
    assert names(plan[1].roots) == ["app", "tools"]


def test_budget_one_is_one_layer_with_everything() -> None:
    (only,) = plan_layers(example(), budget=1)
    assert len(only.store_paths) == len(EXAMPLE_SIZES)
    assert only.size == sum(EXAMPLE_SIZES.values())


def test_lower_popularity_threshold_separates_more() -> None:
    specs = [PathSpec(sp("a"), 1, frozenset({sp("lib")})), PathSpec(sp("lib"), 1)]
    assert len(plan_layers(specs, 10)) == 1  # lib is used by a only: it travels with it
    separated = plan_layers(specs, 10, LayeringPolicy(popular_threshold=1))
    assert [names(g.store_paths) for g in separated] == [["a"], ["lib"]]


def test_a_large_closure_gets_its_own_layer() -> None:
    specs = [
        PathSpec(sp("prog"), 1_000, frozenset({sp("biglib")})),
        PathSpec(sp("biglib"), 200_000_000),
    ]
    plan = plan_layers(specs, 10)
    assert [names(g.store_paths) for g in plan] == [["biglib"], ["prog"]]
    # below the threshold it stays with its only user
    small = plan_layers(specs, 10, LayeringPolicy(large_threshold=300_000_000))
    assert [names(g.store_paths) for g in small] == [["biglib", "prog"]]


def test_popularity_table_as_nixery() -> None:
    policy = LayeringPolicy(popular_threshold=100, popularity={"glibc": 300_000, "zlib": 150})
    a = analyse(example(), policy)
    assert names(a.separated) == ["glibc", "zlib"]
    assert a.popularity[sp("glibc")] == 300_000
    assert a.popularity[sp("app")] == 1  # not in the table
    plan = plan_layers(example(), 10, policy)
    # zlib: 150 x 100 kB = 15 M; app (+libfoo) and tools: 3.0 M each, tie broken by name
    assert [names(g.roots) for g in plan] == [["glibc"], ["zlib"], ["app"], ["tools"]]
    assert [g.rating for g in plan] == [300_000 * 30_000_000, 15_000_000, 3_000_000, 3_000_000]


def test_reference_cycle_without_entry_still_layered() -> None:
    specs = [
        PathSpec(sp("out"), 10, frozenset({sp("dev")})),
        PathSpec(sp("dev"), 5, frozenset({sp("out"), sp("dev")})),  # self reference ignored
    ]
    a = analyse(specs)
    assert a.top_level == ()
    (group,) = plan_layers(specs, 5)
    assert names(group.store_paths) == ["dev", "out"]


def test_missing_reference_is_an_error() -> None:
    specs = [PathSpec(sp("a"), 1, frozenset({sp("gone")}))]
    with pytest.raises(ImageInputError) as info:
        plan_layers(specs, 3)
    assert str(info.value) == (
        f"store path {sp('a')} refers to {sp('gone')}, which is not among the image's store "
        "paths (an image needs the whole closure: add it)"
    )


def test_duplicate_path_is_an_error() -> None:
    with pytest.raises(ImageInputError, match="is given twice"):
        plan_layers([PathSpec(sp("a"), 1), PathSpec(sp("a"), 2)], 3)


@pytest.mark.parametrize("budget", [0, -1])
def test_budget_must_be_positive(budget: int) -> None:
    with pytest.raises(ImageOptionError, match=f"layer budget is {budget}: expected at least 1"):
        plan_layers(example(), budget)
    with pytest.raises(ImageOptionError):
        merge_to_budget([], budget)


def test_policy_thresholds_must_be_positive() -> None:
    with pytest.raises(ImageOptionError, match="popular_threshold is 0"):
        LayeringPolicy(popular_threshold=0)
    with pytest.raises(ImageOptionError, match="large_threshold is 0"):
        LayeringPolicy(large_threshold=0)


def test_input_order_does_not_matter() -> None:
    specs = example()
    expected = plan_layers(specs, 2)
    rng = random.Random(7)
    for _ in range(10):
        shuffled = specs[:]
        rng.shuffle(shuffled)
        assert plan_layers(shuffled, 2) == expected


@st.composite
def closures(draw: st.DrawFn) -> list[PathSpec]:
    """Random DAGs of store paths (references only to earlier paths, so closed and acyclic)."""
    n = draw(st.integers(1, 25))
    specs = []
    for i in range(n):
        refs = draw(st.lists(st.integers(0, i - 1), max_size=4)) if i else []
        specs.append(
            PathSpec(
                sp(f"p{i:02d}"),
                draw(st.integers(0, 10_000)),
                frozenset(sp(f"p{r:02d}") for r in refs),
            )
        )
    return specs


@settings(max_examples=60, deadline=None)
@given(closures(), st.integers(1, 12), st.randoms(use_true_random=False))
def test_groups_partition_the_paths_within_budget(
    specs: list[PathSpec], budget: int, rng: random.Random
) -> None:
    plan = plan_layers(specs, budget)
    assert 1 <= len(plan) <= budget
    placed = [p for g in plan for p in g.store_paths]
    assert sorted(placed) == sorted(s.store_path for s in specs)
    assert [g.rating for g in plan] == sorted((g.rating for g in plan), reverse=True)
    shuffled = specs[:]
    rng.shuffle(shuffled)
    assert plan_layers(shuffled, budget) == plan
