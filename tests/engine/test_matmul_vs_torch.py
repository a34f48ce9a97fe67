"""matmul in every form against torch: which kernel runs (dot, mv, mm, a fold into mm/mv, or
expand + bmm) shows in the grad_fn graph, so the whole graph must be torch's."""

import pytest

from tests.engine.twins import check_program, leaf, make_inputs

DTYPES = ["float32", "float64"]


def case(name, a, b):
    return pytest.param(a, b, id=name)


PRODUCTS = [
    case("1d@1d-dot", leaf(3), leaf(3)),
    case("2d@1d-mv", leaf(2, 3), leaf(3)),
    case("1d@2d", leaf(3), leaf(3, 2)),
    case("2d@2d-mm", leaf(2, 3), leaf(3, 4)),
    case("2d@2d-only-left-grad", leaf(2, 3), leaf(3, 4, grad=False)),
    case("2d@2d-only-right-grad", leaf(2, 3, grad=False), leaf(3, 4)),
    case("3d@3d-bmm", leaf(5, 2, 3), leaf(5, 3, 4)),
    case("3d@2d-fold", leaf(5, 2, 3), leaf(3, 4)),
    case("3d@2d-no-grad-right", leaf(5, 2, 3), leaf(3, 4, grad=False)),
    case("2d@3d-fold-transposed", leaf(2, 3), leaf(5, 3, 4)),
    case("2d@3d-no-grad-left", leaf(2, 3, grad=False), leaf(5, 3, 4)),
    case("2d@3d-one-row", leaf(1, 3), leaf(5, 3, 4)),
    case("2d@3d-batch-one", leaf(2, 3), leaf(1, 3, 4)),
    case("3d@1d-fold", leaf(5, 2, 3), leaf(3)),
    case("3d@1d-no-grad-vector", leaf(5, 2, 3), leaf(3, grad=False)),
    case("1d@3d-fold", leaf(3), leaf(5, 3, 4)),
    case("1d@3d-no-grad-vector", leaf(3, grad=False), leaf(5, 3, 4)),
    case("1d@3d-batch-one", leaf(3), leaf(1, 3, 4)),
    case("4d@1d", leaf(2, 5, 2, 3), leaf(3)),
    case("1d@4d", leaf(3), leaf(2, 5, 3, 4)),
    case("1d@4d-no-grad-vector", leaf(3, grad=False), leaf(2, 5, 3, 4)),
    case("4d@2d", leaf(2, 5, 2, 3), leaf(3, 4)),
    case("4d@4d", leaf(2, 5, 2, 3), leaf(2, 5, 3, 4)),
    case("4d@4d-broadcast", leaf(2, 1, 2, 3), leaf(1, 5, 3, 4)),
    case("3d@4d-broadcast", leaf(5, 2, 3), leaf(2, 5, 3, 4)),
    case("3d@3d-broadcast-batch-one-left", leaf(1, 2, 3), leaf(5, 3, 4)),
    case("3d@3d-broadcast-batch-one-right", leaf(5, 2, 3), leaf(1, 3, 4)),
    case("3d@3d-broadcast-no-grad-one", leaf(1, 2, 3, grad=False), leaf(5, 3, 4)),
    case("empty-inner", leaf(2, 0), leaf(0, 3)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("a", "b"), PRODUCTS)
def test_matmul_operator_matches_torch(a, b, dtype):
    check_program(lambda m, x, y: x @ y, *make_inputs([a, b], dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("a", "b"), PRODUCTS[:8])
def test_matmul_function_and_method_match_torch(a, b, dtype):
    check_program(lambda m, x, y: (m.matmul(x, y), x.matmul(y)), *make_inputs([a, b], dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("a", "b"), [PRODUCTS[6], case("bmm-empty", leaf(3, 2, 0), leaf(3, 0, 4)),
                                      case("bmm-one-grad", leaf(2, 2, 3), leaf(2, 3, 1,
                                                                             grad=False))])
def test_bmm_function_and_method_match_torch(a, b, dtype):
    check_program(lambda m, x, y: (m.bmm(x, y), x.bmm(y)), *make_inputs([a, b], dtype))


def strided(name, fn, *inputs):
    return pytest.param(fn, inputs, id=name)


STRIDED = [
    # the fold needs the batch dims of the big operand to flatten without a copy
    strided("transposed-batch@2d-no-grad", lambda m, a, b: a.transpose(1, 2) @ b,
            leaf(5, 3, 2), leaf(3, 4, grad=False)),
    strided("transposed-batch@2d", lambda m, a, b: a.transpose(1, 2) @ b,
            leaf(5, 3, 2), leaf(3, 4)),
    strided("transposed-batch@1d-no-grad", lambda m, a, b: a.transpose(1, 2) @ b,
            leaf(5, 3, 2), leaf(3, grad=False)),
    strided("permuted-batch@2d-no-grad", lambda m, a, b: a.permute(1, 0, 2) @ b,
            leaf(2, 5, 3), leaf(3, 4, grad=False)),
    strided("sliced-batch@2d-no-grad", lambda m, a, b: a[:, :, ::2] @ b,
            leaf(5, 2, 6), leaf(3, 4, grad=False)),
    strided("mm", lambda m, a, b: m.mm(a, b), leaf(2, 3), leaf(3, 4)),
    strided("mv", lambda m, a, b: m.mv(a, b), leaf(2, 3), leaf(3)),
    strided("dot", lambda m, a, b: a.dot(b), leaf(3), leaf(3)),
    strided("mm-of-transposes", lambda m, a, b: a.t().mm(b.t()), leaf(3, 2), leaf(4, 3)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("fn", "inputs"), STRIDED)
def test_matmul_variants_match_torch(fn, inputs, dtype):
    check_program(fn, *make_inputs(inputs, dtype))


def test_integer_matmul_matches_torch():
    import numpy as np

    from tests.engine.twins import twin

    a = twin(np.arange(6, dtype=np.int64).reshape(2, 3), requires_grad=False)
    b = twin(np.arange(6, dtype=np.int64).reshape(3, 2), requires_grad=False)
    check_program(lambda m, x, y: (x @ y, x[0] @ y, x @ y[:, 0], x[0] @ y[:, 1]), a, b)
