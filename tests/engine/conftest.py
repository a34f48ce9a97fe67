"""Engine fixtures: run tests on the CPU and on the strict CuPy stand-in registered as "cuda"."""

import pytest

from visgrad.engine import backend


@pytest.fixture(params=["cpu", "cuda"], ids=["numpy", "strict-cuda"])
def device(request):
    """Both backends: "cuda" is the strict stand-in, so hidden host conversions fail here."""
    if request.param == "cuda":
        backend.register_backend("cuda", backend.strict_cuda_backend)
        yield "cuda"
        backend.register_backend("cuda", None)
    else:
        yield "cpu"
