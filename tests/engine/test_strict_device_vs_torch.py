"""The op tables again, with visgrad's tensors on the strict CuPy stand-in ("cuda").

The stand-in fails wherever CuPy would (a hidden host conversion, a numpy call on device data),
so this is how the ops are known to run on a GPU without one. Values, graphs and gradients are
compared with torch on the CPU; the printed form differs by its device suffix, so it is left out.
"""

import pytest

from tests.engine import test_indexing_vs_torch as indexing
from tests.engine import test_matmul_vs_torch as matmul
from tests.engine import test_ops_vs_torch as ops
from tests.engine.twins import check_program, make_inputs
from visgrad.engine import backend


@pytest.fixture
def strict_cuda():
    """The strict stand-in registered as the "cuda" device for one test."""
    backend.register_backend("cuda", backend.strict_cuda_backend)
    yield "cuda"
    backend.register_backend("cuda", None)


def _names_used(fn) -> set:
    names = set(fn.__code__.co_names)
    for cell in fn.__closure__ or ():
        if hasattr(cell.cell_contents, "__code__"):
            names |= _names_used(cell.cell_contents)
    return names


def _builds_no_tensors(param) -> bool:
    """Programs that make tensors of their own (``m.tensor(...)``) would put them on the CPU."""
    return not {"tensor", "ones", "zeros"} & _names_used(param.values[0])


PROGRAMS = [p for p in (ops.ARITHMETIC + ops.UNARY + ops.BINARY_SELECT + ops.REDUCTIONS +
                        ops.ORDERING + ops.REARRANGING +
                        ops.SHAPES + ops.SOFTMAX + indexing.GETITEM + indexing.SETITEM +
                        indexing.INPLACE + indexing.VIEWS_AFTER_INPLACE +
                        indexing.VIEW_WRITES)
            if _builds_no_tensors(p)]


def test_most_programs_run_on_the_device():
    assert len(PROGRAMS) > 0.8 * len(ops.ARITHMETIC + ops.UNARY + ops.BINARY_SELECT +
                                     ops.REDUCTIONS + ops.SHAPES + ops.SOFTMAX +
                                     indexing.GETITEM + indexing.SETITEM + indexing.INPLACE)


@pytest.mark.parametrize(("fn", "inputs"), PROGRAMS)
def test_op_on_strict_device_matches_torch(fn, inputs, strict_cuda):
    check_program(fn, *make_inputs(inputs, "float64", device=strict_cuda), printed=False)


@pytest.mark.parametrize(("a", "b"), matmul.PRODUCTS)
def test_matmul_on_strict_device_matches_torch(a, b, strict_cuda):
    check_program(lambda m, x, y: x @ y, *make_inputs([a, b], "float32", device=strict_cuda),
                  printed=False)
