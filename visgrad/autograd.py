"""``vg.autograd``: the names torch users reach for under ``torch.autograd``."""

from visgrad.engine.autograd import (  # noqa: F401
    AccumulateGrad, BackwardIteration, BackwardStep, Node, RemovableHandle,
)
from visgrad.engine import functional_autograd as functional  # noqa: F401
from visgrad.engine.autograd_api import backward, grad  # noqa: F401
from visgrad.engine.function import Function, FunctionCtx, once_differentiable  # noqa: F401
from visgrad.engine.gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: F401
from visgrad.engine.grad_mode import (  # noqa: F401
    detect_anomaly, enable_grad, is_anomaly_check_nan_enabled, is_anomaly_enabled, no_grad,
    set_detect_anomaly,
    set_grad_enabled,
)
