"""``autograd.Function``: user-defined ops with a forward and a hand-written backward.

The grad_fn of ``MyFn.apply(x)`` is a node of class ``MyFnBackward`` (torch's naming) that is
also the ``ctx`` the user's forward and backward see, exactly as in torch. A wrong backward
is not corrected: the engine checks its count and shapes and raises torch's errors.
"""

from __future__ import annotations

from visgrad.engine import grad_mode
from visgrad.engine.autograd import (FREED_MESSAGE, Node, bump_version, gradient_edge,
                                     shared_counter)
from visgrad.engine.tensor import Tensor


class FunctionCtx:
    """What ``forward(ctx, ...)`` and ``backward(ctx, ...)`` receive."""

    def save_for_backward(self, *tensors) -> None:
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError("save_for_backward can only save variables, but argument "
                                f"{tensors.index(t)} is of type {type(t).__name__}")
        self._to_save = tensors

    def mark_non_differentiable(self, *tensors) -> None:
        self._non_differentiable = set(map(id, tensors))

    def mark_dirty(self, *tensors) -> None:
        self._dirty = tensors

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value


class BackwardCFunction(Node, FunctionCtx):
    """The node (and ctx) of a custom Function's output."""

    _function_cls: type = None
    materialize_grads = True
    _materializes_itself = True  # the engine leaves missing gradients to backward() below

    def backward(self, *grads):
        if self.materialize_grads:
            from visgrad.engine.tensor import zeros_for  # noqa: PLC0415

            # (a non-tensor output, whose metadata has no backend, gets None, as in torch)
            grads = tuple(g if g is not None or self._output_meta[i][2] is None else
                          zeros_for(*self._output_meta[i]) for i, g in enumerate(grads))
        result = self._function_cls.backward(self, *grads)
        if not isinstance(result, tuple):
            result = (result,)
        n_inputs = len(self._is_tensor_input)
        if len(result) != n_inputs:
            if len(result) > n_inputs and all(r is None for r in result[n_inputs:]):
                result = result[:n_inputs]
            else:
                raise RuntimeError(f"function {self.name()} returned an incorrect number of "
                                   f"gradients (expected {n_inputs}, got {len(result)})")
        return tuple(r for r, is_tensor in zip(result, self._is_tensor_input) if is_tensor)

    @property
    def saved_tensors(self) -> tuple:
        return Node.saved_tensors.fget(self)

    @property
    def needs_input_grad(self) -> tuple:
        return self._needs_input_grad


class _FunctionMeta(type):
    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        cls._backward_cls = type(name + "Backward", (BackwardCFunction,), {"_function_cls": cls})


class Function(metaclass=_FunctionMeta):
    """Define ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)`` as static methods.

    >>> import visgrad as vg
    >>> class Double(vg.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         return x * 2
    ...     @staticmethod
    ...     def backward(ctx, grad_output):
    ...         return grad_output * 2
    >>> x = vg.tensor([1.0, 2.0], requires_grad=True)
    >>> y = Double.apply(x); y
    tensor([2., 4.], grad_fn=<DoubleBackward>)
    >>> y.sum().backward(); x.grad
    tensor([2., 2.])
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your "
                                  "custom autograd.Function to use it with backward mode AD.")

    def __call__(self, *args, **kwargs):
        raise RuntimeError(
            "Legacy autograd function with non-static forward method is deprecated. Please use "
            "new-style autograd function with static forward method. (Example: "
            "https://pytorch.org/docs/stable/autograd.html#torch.autograd.Function)")

    @classmethod
    def apply(cls, *args, **kwargs):
        node = cls._backward_cls()
        node._to_save = ()
        is_tensor = tuple(isinstance(a, Tensor) for a in args)
        tensors = [a for a in args if isinstance(a, Tensor)]
        node._is_tensor_input = is_tensor
        node._needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with grad_mode.no_grad():
            outputs = cls.forward(node, *args, **kwargs)
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        requires = grad_mode.is_grad_enabled() and any(t.requires_grad for t in tensors)
        non_diff = getattr(node, "_non_differentiable", set())
        # the inputs' histories before any output takes this node (an input changed in place
        # and returned, ctx.mark_dirty, is one of them)
        edges = tuple(gradient_edge(t) for t in tensors) if requires else ()
        for d in getattr(node, "_dirty", ()):
            if requires and d._requires_grad and d._grad_fn is None:
                raise RuntimeError("a leaf Variable that requires grad has been used in an "
                                   "in-place operation.")
            if not any(o is d for o in outs):
                raise RuntimeError("Some elements marked as dirty during the forward method were "
                                   "not returned as output. The inputs that are modified inplace "
                                   "must all be outputs of the Function.")
            bump_version(d)  # as torch counts the change once more, for the function
        results = []
        for i, o in enumerate(outs):
            if not isinstance(o, Tensor):
                results.append(o)
                continue
            if any(o is a for a in tensors) and not hasattr(node, "_dirty"):
                o = Tensor._wrap(o._data, o._backend)  # an input returned as is: a new alias
                o._vc = shared_counter(outs[i])
            if requires and id(outs[i]) not in non_diff and o._data.dtype.kind == "f":
                o._grad_fn, o._output_nr, o._requires_grad = node, i, True
            results.append(o)
        if requires:
            node.next_functions = edges
            node._input_meta = tuple((t._data.shape, t._data.dtype) if e[0] is not None else None
                                     for t, e in zip(tensors, node.next_functions))
            node._num_outputs = len(outs)
            node._output_meta = tuple(
                (o._data.shape, o._data.dtype, o._backend) if isinstance(o, Tensor) else
                ((), None, None) for o in outs)
            node.save(*node._to_save)
        elif node._to_save:
            node.save(*node._to_save)
        node._to_save = ()  # saved now; kept here, an output would hold its own node
        return results[0] if single else tuple(results)


class once_differentiable:  # noqa: N801 - torch's name
    """Accepted for compatibility: the backward runs under no_grad."""

    def __new__(cls, fn):
        import functools  # noqa: PLC0415

        @functools.wraps(fn)
        def wrapper(ctx, *args):
            with grad_mode.no_grad():
                return fn(ctx, *args)

        return wrapper


_ = FREED_MESSAGE
