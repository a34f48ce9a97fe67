"""``vg.nn``: modules, layers and losses with torch's API, built on visgrad's engine.

>>> import visgrad as vg
>>> import visgrad.nn as nn
>>> _ = vg.manual_seed(0)
>>> model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
>>> loss = nn.MSELoss()(model(vg.ones(8, 2)), vg.zeros(8, 1))
>>> loss.backward()
>>> [tuple(p.grad.shape) for p in model.parameters()]
[(4, 2), (4,), (1, 4), (1,)]
"""

from visgrad.nn import functional, init, utils  # noqa: F401
from visgrad.nn.container import ModuleList, Sequential  # noqa: F401
from visgrad.nn.layers import (  # noqa: F401
    ELU, GELU, BatchNorm1d, BatchNorm2d, Dropout, Embedding, Flatten, Identity, LayerNorm,
    LeakyReLU, Linear, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Softplus, Tanh,
)
from visgrad.nn.loss import (  # noqa: F401
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss,
)
from visgrad.nn.module import Module  # noqa: F401
from visgrad.nn.parameter import Parameter  # noqa: F401

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "Linear", "Identity", "Embedding",
    "LayerNorm", "BatchNorm1d", "BatchNorm2d", "ReLU", "Tanh",
    "Sigmoid", "LeakyReLU", "ELU", "GELU", "SiLU", "Softplus", "Softmax", "LogSoftmax",
    "Flatten", "Dropout", "MSELoss", "L1Loss", "NLLLoss",
    "CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss", "functional", "init", "utils",
]
