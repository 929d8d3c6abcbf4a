"""Dominator trees of directed graphs (Cooper, Harvey and Kennedy, "A Simple, Fast Dominance
Algorithm", 2001).

A node ``d`` *dominates* ``v`` when every path from the root to ``v`` passes through ``d``; the
*immediate dominator* of ``v`` is its closest strict dominator. The immediate dominators form a
tree rooted at the root: the dominator tree.

The graph is given as successor lists over the nodes ``0 … n-1``. The result depends only on the
graph (dominance is a property of the graph, not of the visiting order), so it is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence


def postorder(successors: Sequence[Sequence[int]], root: int) -> list[int]:
    """The nodes reachable from ``root`` in depth-first postorder (successors in list order)."""
    seen = [False] * len(successors)
    order: list[int] = []
    seen[root] = True
    stack: list[tuple[int, int]] = [(root, 0)]
    while stack:
        node, i = stack[-1]
        succ = successors[node]
        if i < len(succ):
            stack[-1] = (node, i + 1)
            nxt = succ[i]
            if not seen[nxt]:
                seen[nxt] = True
                stack.append((nxt, 0))
        else:
            stack.pop()
            order.append(node)
    return order


def immediate_dominators(successors: Sequence[Sequence[int]], root: int = 0) -> list[int | None]:
    """``idom[v]`` for every node: ``idom[root] == root``; None for nodes unreachable from root."""
    n = len(successors)
    for node, succ in enumerate(successors):
        for s in succ:
            if not 0 <= s < n:
                raise ValueError(f"node {node} has successor {s}, expected 0 <= s < {n}")
    order = postorder(successors, root)
    number = [-1] * n  # postorder number; -1 = unreachable
    for i, node in enumerate(order):
        number[node] = i
    predecessors: list[list[int]] = [[] for _ in range(n)]
    for node in order:
        for s in successors[node]:
            predecessors[s].append(node)
    idom: list[int | None] = [None] * n
    idom[root] = root

    def intersect(a: int, b: int) -> int:
        while a != b:
            while number[a] < number[b]:
                parent = idom[a]
                assert parent is not None
                a = parent
            while number[b] < number[a]:
                parent = idom[b]
                assert parent is not None
                b = parent
        return a

    reverse_postorder = order[::-1]
    changed = True
    while changed:
        changed = False
        for node in reverse_postorder:
            if node == root:
                continue
            new: int | None = None
            for p in predecessors[node]:
                if idom[p] is None:
                    continue
                new = p if new is None else intersect(p, new)
            if new is not None and idom[node] != new:
                idom[node] = new
                changed = True
    return idom


def dominator_children(idom: Sequence[int | None], root: int = 0) -> list[list[int]]:
    """The dominator tree as child lists (children in ascending node order)."""
    children: list[list[int]] = [[] for _ in idom]
    for node, parent in enumerate(idom):
        if parent is not None and node != root:
            children[parent].append(node)
    return children
