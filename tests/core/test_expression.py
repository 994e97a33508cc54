"""Expression: vectorised evaluation against numpy references, and the whitelist."""

import pickle
import warnings

import numpy as np
import pytest

from learnsim.core.errors import InputError
from learnsim.core.expression import Expression

RNG = np.random.default_rng(0)
POINTS_2D = RNG.uniform(-1.0, 2.0, size=(200, 2))
POINTS_3D = RNG.uniform(-1.0, 2.0, size=(200, 3))


def _xyz(points):
    z = points[:, 2] if points.shape[1] == 3 else np.zeros(len(points))
    return points[:, 0], points[:, 1], z


NUMERIC = [
    ("x + 2 * y - z / 4", lambda x, y, z: x + 2 * y - z / 4),
    ("x ** 2 + y ** 3", lambda x, y, z: x**2 + y**3),
    ("-x + +y", lambda x, y, z: -x + y),
    (
        "sqrt(abs(x)) * sin(pi * y) + cos(z)",
        lambda x, y, z: np.sqrt(np.abs(x)) * np.sin(np.pi * y) + np.cos(z),
    ),
    ("exp(-x) + log(1 + x * x) + tanh(y)", lambda x, y, z: np.exp(-x) + np.log(1 + x * x) + np.tanh(y)),
    ("min(x, y) + max(x, y, z)", lambda x, y, z: np.minimum(x, y) + np.maximum(np.maximum(x, y), z)),
    ("1 + 999 * (x > 0.5)", lambda x, y, z: 1 + 999 * (x > 0.5)),
    ("(x > 0) + (y > 0)", lambda x, y, z: (x > 0).astype(float) + (y > 0)),
    ("-(x > 0)", lambda x, y, z: -(x > 0).astype(float)),
    ("True * 2 + False", lambda x, y, z: np.full_like(x, 2.0)),
]

REGIONS = [
    ("x < 0.5", lambda x, y, z: x < 0.5),
    ("0 < x < 1", lambda x, y, z: (0 < x) & (x < 1)),
    ("0 <= x <= y < 1.5", lambda x, y, z: (0 <= x) & (x <= y) & (y < 1.5)),
    ("x >= 1 and y != 0 or z == 0", lambda x, y, z: ((x >= 1) & (y != 0)) | (z == 0)),
    ("not (x > 0)", lambda x, y, z: ~(x > 0)),
    ("sqrt((x - 0.5)**2 + (y - 0.5)**2) < 0.25", lambda x, y, z: np.hypot(x - 0.5, y - 0.5) < 0.25),
]


@pytest.mark.parametrize("points", [POINTS_2D, POINTS_3D], ids=["2d", "3d"])
@pytest.mark.parametrize(("source", "reference"), NUMERIC, ids=[s for s, _ in NUMERIC])
def test_numeric_matches_numpy(source, reference, points):
    value = Expression(source).evaluate(points)
    assert value.shape == (len(points),)
    assert value.dtype == np.float64
    np.testing.assert_allclose(value, reference(*_xyz(points)), rtol=1e-14, atol=0)


@pytest.mark.parametrize("points", [POINTS_2D, POINTS_3D], ids=["2d", "3d"])
@pytest.mark.parametrize(("source", "reference"), REGIONS, ids=[s for s, _ in REGIONS])
def test_region_matches_numpy(source, reference, points):
    expr = Expression(source)
    mask = expr.evaluate(points)
    assert mask.dtype == bool and mask.shape == (len(points),)
    np.testing.assert_array_equal(mask, reference(*_xyz(points)))
    np.testing.assert_array_equal(expr.select(points), mask)


def test_constant_broadcasts_to_one_value_per_point():
    expr = Expression("2 * pi")
    assert expr.is_constant
    np.testing.assert_array_equal(expr.evaluate(POINTS_3D), np.full(len(POINTS_3D), 2 * np.pi))
    assert not Expression("1 + 0 * z").is_constant


def test_z_is_zero_in_2d():
    np.testing.assert_array_equal(Expression("z + 1").evaluate(POINTS_2D), np.ones(len(POINTS_2D)))


def test_invalid_math_gives_nan_or_inf_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = Expression("log(x) + 1 / y").evaluate(np.array([[0.0, 1.0], [1.0, 0.0], [-1.0, 1.0]]))
    assert value[0] == -np.inf and value[1] == np.inf and np.isnan(value[2])


def test_source_repr_equality_and_pickle():
    expr = Expression("x < 1e-9")
    assert expr.source == "x < 1e-9" and str(expr) == "x < 1e-9"
    assert repr(expr) == "Expression('x < 1e-9')"
    assert expr == Expression("x < 1e-9") and hash(expr) == hash(Expression("x < 1e-9"))
    assert expr != Expression("x < 1e-8")
    clone = pickle.loads(pickle.dumps(expr))
    np.testing.assert_array_equal(clone.evaluate(POINTS_2D), expr.evaluate(POINTS_2D))


def test_points_must_be_n_by_2_or_3():
    with pytest.raises(ValueError, match="shape"):
        Expression("x").evaluate(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="shape"):
        Expression("x").evaluate(np.zeros(4))


REJECTED = [
    ("x.__class__", "attribute access"),
    ("__import__('os')", "function '__import__' is not allowed"),
    ("os", "name 'os' is not allowed \\(use x, y, z\\)"),
    ("t + 1", "name 't' is not allowed"),
    ("'hello'", "a string"),
    ("x[0]", "a subscript"),
    ("lambda: 1", "a lambda"),
    ("[i for i in (1, 2)]", "a comprehension"),
    ("(1, 2)", "a tuple"),
    ("x if y else z", "a conditional expression"),
    ("eval('1')", "function 'eval' is not allowed"),
    ("sin(x=1)", "keyword arguments"),
    ("sin(*x)", "unpacking"),
    ("sin(x, y)", "exactly one argument"),
    ("min(x)", "two or more arguments"),
    ("x % 2", "operator"),
    ("x // 2", "operator"),
    ("x is None", "comparison"),
    ("x in y", "comparison"),
    ("None", "the constant"),
    ("1j", "the constant"),
    ("(x + 1)(2)", "call"),
    ("x(1)", "function 'x' is not allowed"),
    ("(y := 2)", "an assignment"),
]


@pytest.mark.parametrize(("source", "message"), REJECTED, ids=[s for s, _ in REJECTED])
def test_rejected_constructs_name_the_location_and_the_piece(source, message):
    with pytest.raises(InputError, match=f"^scene.toml: \\[\\[bc\\]\\] 1 region: .*{message}"):
        Expression(source, where="scene.toml: [[bc]] 1 region")


def test_rejected_code_is_never_run(tmp_path):
    marker = tmp_path / "ran"
    attacks = [
        f"__import__('os').system('touch {marker}')",
        f"open('{marker}', 'w')",
        f"().__class__.__base__.__subclasses__() or open('{marker}', 'w')",
        f"[open('{marker}', 'w') for _ in (1,)]",
    ]
    for source in attacks:
        with pytest.raises(InputError):
            Expression(source)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("source", "position"),
    [("x ** * 2", "column 6"), ("x <", "the end"), ("sin(x", "column 4"), ("", "empty")],
)
def test_syntax_errors_give_the_position(source, position):
    with pytest.raises(InputError, match=f"^where: .*{position}"):
        Expression(source, where="where")


def test_message_is_one_line_even_for_multiline_source():
    with pytest.raises(InputError) as info:
        Expression("(x +\nfoo)")
    assert "\n" not in str(info.value)
    assert "name 'foo'" in str(info.value)


def test_non_string_source_is_rejected():
    with pytest.raises(InputError, match="expected a string"):
        Expression(3)
