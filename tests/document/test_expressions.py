"""Safe parsing: literals, constructors, formulas, and hostile text refused with a clear reason."""

import math

import numpy as np
import pytest

from visgrad.document import expressions
from visgrad.document.expressions import (
    ExpressionError,
    checked_constructors,
    parse_expression,
    parse_value,
)
from visgrad.document.registry import NUMPY_FUNCTIONS


@pytest.mark.parametrize(("text", "shape", "dtype"), [
    ("[1, 2, 3]", (3,), "int64"),
    ("3.0", (), "float32"),
    ("[[1,2],[3,4]]", (2, 2), "int64"),
    ("[[1.5, 2], [3, 4]]", (2, 2), "float32"),
    ("True", (), "bool"),
    ("[true, false]", (2,), "bool"),
    ("(1, 2.5)", (2,), "float32"),
    ("-inf", (), "float32"),
    ("[]", (0,), "float32"),
])
def test_literals_have_torch_shapes_and_dtypes(text, shape, dtype):
    value = parse_value(text)
    assert value.is_literal
    assert value.shape == shape
    assert value.literal_dtype == dtype


def test_constructors_are_expressions_checked_but_not_run():
    value = parse_value("randn(3, 4) * 0.1")
    assert not value.is_literal
    assert value.expression.source == "randn(3, 4) * 0.1"


def test_ragged_literal_is_refused_with_depth():
    with pytest.raises(ExpressionError, match="ragged: at depth 1"):
        parse_value("[[1, 2], [3]]")


def test_huge_constructor_is_refused_before_allocating():
    with pytest.raises(ExpressionError) as info:
        parse_value("ones(100000, 100000)")
    assert "10,000,000,000 elements" in str(info.value)
    assert "50,000,000" in str(info.value)


def test_size_limit_is_configurable(monkeypatch):
    monkeypatch.setattr(expressions.limits, "max_elements", 10)
    with pytest.raises(ExpressionError, match="the limit is 10"):
        parse_value("[" + ", ".join(["1"] * 11) + "]")
    assert parse_value("[" + ", ".join(["1"] * 10) + "]").shape == (10,)
    assert parse_value("ones(2, 5)").expression is not None
    with pytest.raises(ExpressionError, match="limit is 10"):
        parse_value("ones(3, 5)")
    with pytest.raises(ExpressionError, match="limit is 100"):
        parse_value("zeros(11, 10)", max_elements=100)


def test_huge_literal_text_is_refused(monkeypatch):
    monkeypatch.setattr(expressions.limits, "max_elements", 1000)
    with pytest.raises(ExpressionError, match="elements; the limit is 1,000"):
        parse_value("[" + "0," * 5000 + "0]")


def test_deeply_nested_literal_is_refused_not_crashing():
    with pytest.raises(ExpressionError):
        parse_value("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ExpressionError, match="more than 32 dimensions"):
        parse_value("[" * 40 + "1" + "]" * 40)


@pytest.mark.parametrize(("text", "reason"), [
    ("__import__('os')", "names starting with '_' are not allowed: '__import__'"),
    ("x.__class__", "attributes starting with '_' are not allowed: '__class__'"),
    ("x.__class__.__bases__[0].__subclasses__()", "not allowed"),
    ("(lambda: 1)()", "lambda functions are not allowed"),
    ("[i for i in range(10)]", "comprehensions are not allowed"),
    ("{i for i in x}", "comprehensions are not allowed"),
    ("open('/etc/passwd')", "unknown function 'open'"),
    ("eval('1')", "unknown function 'eval'"),
    ("x[0]", "indexing and slicing are not allowed"),
    ("f'{x}'", "f-strings are not allowed"),
    ("'text'", "text strings are not allowed"),
    ("(y := 2)", "assignments are not allowed"),
    ("x.numpy()", "the method 'numpy' is not allowed"),
    ("x.real", "attribute access is not allowed"),
    ("x // 2", "the operator // is not allowed"),
    ("x if x else 1", "'if ... else' is not allowed"),
    ("exp(*x)", "* unpacking is not allowed"),
    ("sum(x, **{'dim': 0})", "** unpacking is not allowed"),
    ("sum(x, axis=0)", "the keyword 'axis' is not allowed"),
    ("exp", "must be called"),
    ("import os", "invalid syntax"),
])
def test_hostile_or_unsupported_expressions_are_refused(text, reason):
    with pytest.raises(ExpressionError) as info:
        parse_expression(text, names={"x"})
    assert reason in str(info.value)


def test_error_says_where():
    with pytest.raises(ExpressionError) as info:
        parse_expression("x + __import__('os')", names={"x"}, where="hook on l1")
    error = info.value
    assert error.column == 5
    assert str(error).startswith("hook on l1: names starting with '_'")
    assert "column 5" in str(error)


def test_unknown_variable_lists_what_is_available():
    with pytest.raises(ExpressionError, match="unknown name 'y'; available: grad_output, x"):
        parse_expression("x * y", names={"x", "grad_output"})


def test_long_expression_is_refused():
    with pytest.raises(ExpressionError, match="the limit is 10,000"):
        parse_expression("x" + " + x" * 5000, names={"x"})


def test_integer_power_bomb_is_refused_quickly():
    expression = parse_expression("10 ** 10 ** 10")
    with pytest.raises(ExpressionError, match="too large"):
        expression.evaluate({}, {})
    assert parse_expression("2 ** 10").evaluate({}, {}) == 1024


def test_list_arithmetic_is_refused():
    with pytest.raises(ExpressionError, match="arithmetic on lists"):
        parse_expression("[0] * 1000").evaluate({}, {})


def test_broadcast_bomb_is_refused_before_computing():
    x = np.zeros((1, 20_000))
    expression = parse_expression("x * y", names={"x", "y"})
    with pytest.raises(ExpressionError, match="400,000,000 elements"):
        expression.evaluate({"x": x, "y": x.T}, NUMPY_FUNCTIONS)


def test_formula_evaluates_with_numpy_table():
    expression = parse_expression("2*x + sin(pi * x) + clamp(x, min=0)", names={"x"})
    x = np.array([0.5, -1.0])
    expected = 2 * x + np.sin(math.pi * x) + np.clip(x, 0, None)
    np.testing.assert_allclose(expression.evaluate({"x": x}, NUMPY_FUNCTIONS), expected)


def test_method_calls_and_tuples():
    expression = parse_expression("x.sum(), x.max()", names={"x"})
    assert expression.evaluate({"x": np.array([1.0, 5.0])}, {}) == (6.0, 5.0)


def test_checked_constructors_refuse_over_limit():
    table = checked_constructors({"ones": np.ones}, max_elements=5)
    assert table["ones"](5).shape == (5,)
    with pytest.raises(ValueError, match="6 elements"):
        table["ones"](6)
    with pytest.raises(ValueError, match="negative dimension"):
        table["ones"](-1)


def test_engine_errors_inside_a_formula_name_the_column():
    expression = parse_expression("x @ y", names={"x", "y"})
    with pytest.raises(ExpressionError) as info:
        expression.evaluate({"x": np.ones((2, 3)), "y": np.ones((4, 5))}, {})
    assert "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)" in str(info.value)
    assert info.value.column == 1
