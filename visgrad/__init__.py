"""visgrad: see automatic differentiation, with PyTorch's names, numbers and errors.

>>> import visgrad as vg
>>> x = vg.tensor(3.0, requires_grad=True)
>>> y = 3 * x ** 2 + 4 * x + 2
>>> y.backward()
>>> x.grad
tensor(22.)
"""

from visgrad import autograd, linalg  # noqa: F401
from visgrad.engine import ops as _ops
from visgrad.engine.backend import Device as device  # noqa: F401
from visgrad.engine.dtypes import (  # noqa: F401
    DType as dtype, bool_ as bool, float16, float32, float64, int8, int16, int32, int64, uint8,
)
from visgrad.engine.dtypes import float16 as half, float32 as float, float64 as double  # noqa: F401
from visgrad.engine.dtypes import int32 as int, int64 as long  # noqa: F401
from visgrad.engine.grad_mode import (  # noqa: F401
    enable_grad, is_anomaly_check_nan_enabled, is_anomaly_enabled, is_grad_enabled, no_grad,
    set_grad_enabled,
)
from visgrad.engine.ops import (  # noqa: F401
    abs, add, all, allclose, any, argmax, argmin, argsort, bmm, cat, clamp, clone, cos, div, dot,
    eq,
    cumsum, equal, erf, exp, expand, expm1, flatten, flip, gather, ge, gt, isclose,
    isfinite, isinf, isnan, le, log, log1p, log_softmax, logsumexp, lt, masked_fill, matmul,
    max, maximum, mean,
    min, minimum, mm, mul, norm,
    mv, narrow, ne, neg, permute, pow, prod, reciprocal, relu, reshape, return_types, scatter,
    scatter_add, select, sigmoid,
    sign, sin, softmax, sort, sqrt, squeeze, stack, std, sub, sum, t, tanh, topk, transpose,
    tril, triu, unsqueeze, var,
    where,
)
from visgrad.engine.tensor import (  # noqa: F401
    Size, Tensor, arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like,
    get_default_device, set_default_device,
    linspace, manual_seed, ones, ones_like, rand, rand_like, randint, randn, randn_like, randperm,
    tensor, zeros, zeros_like,
)

clip = clamp
def square(x):  # torch.square(x) is x ** 2 (PowBackward0)
    return _ops.pow(x, 2)


def show(*outputs, names=None) -> int:
    """Open the app on the graph that produced ``outputs`` (traced), steppable and editable.

    ``names`` maps labels to tensors, e.g. ``vg.show(loss, names={"w": w, "loss": loss})``.
    """
    from visgrad.document.trace import trace  # noqa: PLC0415
    from visgrad.qt.show import show_document  # noqa: PLC0415

    return show_document(trace(*outputs, names=names))


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(x) -> int:
    return x.numel()


def set_printoptions(**kwargs) -> None:
    from visgrad.engine.printing import set_printoptions as _set  # noqa: PLC0415

    _set(**kwargs)


__version__ = "0.1.0"

# Submodules and the document layer load on first use, so `import visgrad` stays light (no
# networkx, no Qt) for people who only want the engine.
_LAZY = {
    "nn": ("visgrad.nn", None),
    "optim": ("visgrad.optim", None),
    "load": ("visgrad.document.files", "load"),
    "save": ("visgrad.document.files", "save"),
    "GraphFileError": ("visgrad.document.files", "GraphFileError"),
    "GraphDocument": ("visgrad.document.model", "GraphDocument"),
    "Session": ("visgrad.document.session", "Session"),
    "trace": ("visgrad.document.trace", "trace"),
    "to_dot": ("visgrad.document.dot", "to_dot"),
    "from_code": ("visgrad.document.code_import", "from_code"),
    "to_script": ("visgrad.document.code_export", "to_script"),
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'visgrad' has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value
