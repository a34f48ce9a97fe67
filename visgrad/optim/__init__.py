"""``vg.optim``: optimizers and learning-rate schedulers that update as torch.optim does.

>>> import visgrad as vg
>>> w = vg.tensor([3.0], requires_grad=True)
>>> opt = vg.optim.SGD([w], lr=0.25)
>>> for _ in range(3):
...     opt.zero_grad()
...     (w ** 2).sum().backward()
...     opt.step()
>>> w
tensor([0.3750], requires_grad=True)
"""

from visgrad.optim import lr_scheduler  # noqa: F401
from visgrad.optim.adagrad import Adagrad  # noqa: F401
from visgrad.optim.adam import Adam, AdamW  # noqa: F401
from visgrad.optim.optimizer import Optimizer  # noqa: F401
from visgrad.optim.rmsprop import RMSprop  # noqa: F401
from visgrad.optim.sgd import SGD  # noqa: F401

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]
