"""Grad mode and anomaly mode: thread-local switches, as context managers and decorators.

Thread-local like torch's, so a training worker thread can run under no_grad while the UI
thread records graphs.
"""

from __future__ import annotations

import functools
import threading

class _State(threading.local):
    # class attributes are the defaults each new thread sees (and make lookups fast)
    grad = True
    anomaly = False
    anomaly_check_nan = True  # whether anomaly mode refuses a nan gradient
    quiet = False  # numpy floating-point warnings already silenced by the caller
    numpy_quiet = None  # this thread's backend.quiet_context(), made on its first op


_state = _State()


def is_grad_enabled() -> bool:
    """Whether operations are being recorded for backward right now (torch.is_grad_enabled)."""
    return _state.grad


def _set_grad(mode: bool) -> None:
    _state.grad = bool(mode)


class _GradModeContext:
    """Base of no_grad / enable_grad / set_grad_enabled: restores the previous mode on exit."""

    _mode = True

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set_grad(self._mode)
        return self

    def __exit__(self, *exc) -> None:
        _set_grad(self._prev)

    def __call__(self, func):
        mode = self._mode

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            prev = is_grad_enabled()
            _set_grad(mode)
            try:
                return func(*args, **kwargs)
            finally:
                _set_grad(prev)

        return wrapper


class no_grad(_GradModeContext):  # noqa: N801 - torch's name
    """Disable gradient recording: ``with vg.no_grad(): y = x * 2`` gives ``y.requires_grad == False``."""

    _mode = False


class enable_grad(_GradModeContext):  # noqa: N801
    """Re-enable gradient recording inside a no_grad block."""

    _mode = True


class set_grad_enabled(_GradModeContext):  # noqa: N801
    """``set_grad_enabled(False)`` takes effect at once (as in torch) and also works in ``with``."""

    def __init__(self, mode: bool):
        self._prev = is_grad_enabled()
        self._mode = bool(mode)
        _set_grad(self._mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        _set_grad(self._prev)


# ---- anomaly detection -------------------------------------------------------------------

def is_anomaly_enabled() -> bool:
    return _state.anomaly


def is_anomaly_check_nan_enabled() -> bool:
    return _state.anomaly_check_nan


class set_detect_anomaly:  # noqa: N801
    """Turn anomaly detection on or off, at once and in ``with`` blocks; ``check_nan=False``
    keeps the forward stacks but lets nan gradients through."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self._prev = is_anomaly_enabled(), is_anomaly_check_nan_enabled()
        _state.anomaly, _state.anomaly_check_nan = bool(mode), bool(check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        _state.anomaly, _state.anomaly_check_nan = self._prev


class detect_anomaly:  # noqa: N801
    """While active, the forward stack of each node is kept and a NaN in backward raises
    (unless ``check_nan=False``), naming the node and the forward call that created it."""

    def __init__(self, check_nan: bool = True):
        self.check_nan = bool(check_nan)

    def __enter__(self):
        self._prev = is_anomaly_enabled(), is_anomaly_check_nan_enabled()
        _state.anomaly, _state.anomaly_check_nan = True, self.check_nan
        return self

    def __exit__(self, *exc) -> None:
        _state.anomaly, _state.anomaly_check_nan = self._prev

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with detect_anomaly(self.check_nan):
                return func(*args, **kwargs)

        return wrapper
