"""visgrad's autograd engine: PyTorch semantics on numpy (or CuPy). Knows nothing of Qt."""

from visgrad.engine import ops  # noqa: F401 - installs the Tensor methods
from visgrad.engine.autograd import (  # noqa: F401
    AccumulateGrad, BackwardIteration, BackwardStep, Node, RemovableHandle,
)
from visgrad.engine.backend import Device, get_backend  # noqa: F401
from visgrad.engine.tensor import Size, Tensor  # noqa: F401
