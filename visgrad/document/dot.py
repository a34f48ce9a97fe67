"""Graphviz DOT text for an engine graph, for people who want a static figure.

The app shows graphs live; a paper or a slide sometimes wants a picture that ``dot -Tsvg``
renders. The layout follows the backward graph: leaves (blue) and grad_fn nodes (grey) with
arrows in the direction the forward pass ran, the output in green.

    >>> import visgrad as vg
    >>> x = vg.tensor([1.0, 2.0], requires_grad=True)
    >>> print(to_dot((x * 2).sum(), params={"x": x}).splitlines()[0])
    digraph visgrad {
"""

from __future__ import annotations

from collections.abc import Mapping


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped + '"'


def _shape(t) -> str:
    return str(tuple(t.shape))


def to_dot(output, params: Mapping[str, object] | None = None) -> str:
    """DOT text of the graph that produced ``output``; ``params`` names leaf tensors."""
    names = {id(t): name for name, t in (params or {}).items()}
    lines = ["digraph visgrad {", '  graph [rankdir=BT, fontname="Helvetica"];',
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];']
    ids: dict[int, str] = {}

    def node_id(obj) -> str:
        key = id(obj)
        if key not in ids:
            ids[key] = f"n{len(ids)}"
        return ids[key]

    root = output.grad_fn
    out_id = node_id(output)
    out_label = f"{names.get(id(output), 'output')}\n{_shape(output)}"
    lines.append(f"  {out_id} [label={_quote(out_label)}, fillcolor=\"#c8e6c9\"];")
    if root is None:
        lines.append("}")
        return "\n".join(lines)
    lines.append(f"  {node_id(root)} -> {out_id};")
    seen, stack = set(), [root]
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        variable = getattr(fn, "variable", None)
        if variable is not None:
            name = names.get(id(variable), "")
            label = (f"{name}\n" if name else "") + _shape(variable)
            lines.append(f"  {node_id(fn)} [label={_quote(label)}, fillcolor=\"#bbdefb\"];")
        else:
            label = fn.name().removeprefix("torch::autograd::")
            lines.append(f"  {node_id(fn)} [label={_quote(label)}, fillcolor=\"#eeeeee\"];")
        for nxt, _ in fn.next_functions:
            if nxt is None:
                continue
            lines.append(f"  {node_id(nxt)} -> {node_id(fn)};")
            stack.append(nxt)
    lines.append("}")
    return "\n".join(lines)
