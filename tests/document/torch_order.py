"""Recording the order in which torch's engine executes grad_fns (for comparison)."""


def torch_backward_order(root, **backward_options):
    """Names of the nodes torch's engine runs for ``root.backward()``, in order."""
    order = []
    seen = set()
    stack = [root.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        node.register_prehook(lambda grads, node=node: order.append(node.name()))
        stack.extend(next_node for next_node, _ in node.next_functions)
    root.backward(**backward_options)
    return order
