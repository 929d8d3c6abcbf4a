"""Dominator trees: known small graphs, and a brute-force check on random graphs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_snixbuild.image.dominators import (
    dominator_children,
    immediate_dominators,
    postorder,
)


def test_chain() -> None:
    assert immediate_dominators([[1], [2], [3], []]) == [0, 0, 1, 2]


def test_diamond_join_is_dominated_by_the_fork() -> None:
    #   0 -> 1 -> {2, 3} -> 4
    succ = [[1], [2, 3], [4], [4], []]
    assert immediate_dominators(succ) == [0, 0, 1, 1, 1]
    assert dominator_children(immediate_dominators(succ)) == [[1], [2, 3, 4], [], [], []]


def test_irreducible_loop() -> None:
    # 3 <-> 4 is a loop with two entries (from 1 and from 2/5): only the root dominates them;
    # 5 is reached through 2 only.
    succ = [[1, 2], [3], [4, 5], [4], [3], [4]]
    assert immediate_dominators(succ) == [0, 0, 0, 0, 0, 2]


def test_cycle_back_to_an_inner_node() -> None:
    # 0 -> 1 -> 2 -> 3 -> 1: 1 dominates 2 and 3
    assert immediate_dominators([[1], [2], [3], [1]]) == [0, 0, 1, 2]


def test_unreachable_nodes_have_no_dominator() -> None:
    assert immediate_dominators([[1], [], [1]]) == [0, 0, None]


def test_root_other_than_zero() -> None:
    assert immediate_dominators([[], [0, 2], [0]], root=1) == [1, 1, 1]


def test_bad_successor_is_an_error() -> None:
    with pytest.raises(ValueError, match="node 0 has successor 5, expected 0 <= s < 2"):
        immediate_dominators([[5], []])


def test_postorder_visits_successors_in_order() -> None:
    assert postorder([[1, 2], [3], [3], []], 0) == [3, 1, 2, 0]


def _reachable(succ: list[list[int]], root: int, removed: int | None) -> set[int]:
    if root == removed:
        return set()
    seen = {root}
    stack = [root]
    while stack:
        for s in succ[stack.pop()]:
            if s != removed and s not in seen:
                seen.add(s)
                stack.append(s)
    return seen


@st.composite
def graphs(draw: st.DrawFn) -> list[list[int]]:
    n = draw(st.integers(1, 9))
    return [sorted(set(draw(st.lists(st.integers(0, n - 1), max_size=4)))) for _ in range(n)]


@settings(max_examples=80, deadline=None)
@given(graphs())
def test_matches_the_definition_of_dominance(succ: list[list[int]]) -> None:
    """d dominates v  <=>  v is unreachable from the root once d is removed."""
    idom = immediate_dominators(succ)
    reachable = _reachable(succ, 0, None)
    for v in range(len(succ)):
        if v not in reachable:
            assert idom[v] is None
            continue
        dominators = {v}
        x = v
        while x != 0:
            parent = idom[x]
            assert parent is not None
            x = parent
            dominators.add(x)
        for d in range(len(succ)):
            if d == v:
                continue
            by_definition = v not in _reachable(succ, 0, d)
            assert (d in dominators) == by_definition, (succ, v, d)
