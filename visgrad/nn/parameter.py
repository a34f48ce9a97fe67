"""``Parameter``: a leaf tensor that a Module registers as one of its learnable weights."""

from __future__ import annotations

from visgrad.engine.autograd import shared_counter
from visgrad.engine.tensor import Tensor, _init_from, empty


class Parameter(Tensor):
    """A tensor that is a module's parameter: always a leaf, requiring grad by default.

    It shares storage (and version counter) with the tensor it is made from, as in torch.
    Results of operations on a Parameter are plain Tensors.

    >>> import visgrad as vg
    >>> vg.nn.Parameter(vg.tensor([1.0, 2.0]))
    Parameter containing:
    tensor([1., 2.], requires_grad=True)
    """

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter data must be a Tensor, got {type(data).__name__}")
        _init_from(self, data._data, data._backend)
        self._vc = shared_counter(data)
        if requires_grad:
            if data._data.dtype.kind != "f":
                raise RuntimeError("Only Tensors of floating point and complex dtype can require "
                                   "gradients")
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self.detach().clone(), self._requires_grad)
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self._backend.to_host(self._data), str(self.device),
                                     self._requires_grad))


def _rebuild_parameter(host, device, requires_grad):
    from visgrad.engine.tensor import tensor  # noqa: PLC0415

    return Parameter(tensor(host, device=device), requires_grad)
