"""Sampling for scene families: the ``[generate]`` table of a scene file, which declares how samples differ.

Keys are dotted scene paths, values are distributions (data only, never evaluated)::

    [generate]
    "material.conductivity" = {loguniform = [0.1, 10.0]}
    "mesh.cells" = {choice = [[32, 32], [64, 64]]}
    "bc.1.value" = {uniform = [0.5, 2.0]}
    obstacles = {count = [1, 4], size = [0.05, 0.2], conductivity = 1e-3, modes = 4, amplitude = 1.0}

Distributions: ``uniform = [low, high]``, ``loguniform = [low, high]`` (low > 0),
``normal = [mean, std]``, ``integer = [low, high]`` (both included), ``choice = [a, b, ...]``;
a plain value is fixed. ``obstacles`` writes a conductivity expression (see
:class:`ObstacleSpec`) to ``material.conductivity``. :class:`~learnsim.scenes.loader.SceneFamily`
turns a drawn sample into a checked scene.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from learnsim.core.errors import InputError

DISTRIBUTIONS = ("uniform", "loguniform", "normal", "integer", "choice")
OBSTACLE_KEYS = ("count", "size", "conductivity", "background", "box", "shape", "modes", "amplitude", "key")


@dataclass(frozen=True)
class Distribution:
    """One sampled scene value: ``kind`` in DISTRIBUTIONS (or "fixed") with its arguments."""

    kind: str
    args: tuple

    def draw(self, rng: np.random.Generator) -> Any:
        a = self.args
        if self.kind == "fixed":
            return a[0]
        if self.kind == "uniform":
            return float(rng.uniform(a[0], a[1]))
        if self.kind == "loguniform":
            return float(np.exp(rng.uniform(np.log(a[0]), np.log(a[1]))))
        if self.kind == "normal":
            return float(rng.normal(a[0], a[1]))
        if self.kind == "integer":
            return int(rng.integers(a[0], a[1], endpoint=True))
        return a[int(rng.integers(len(a)))]


@dataclass(frozen=True)
class ObstacleSpec:
    """Random conductivity: a smooth log-normal background with ``count`` obstacles in it.

    k(x) = background * exp(sum of ``modes`` random cosines of total amplitude ``amplitude``)
    outside the obstacles and ``conductivity`` inside them. Obstacles are axis-aligned boxes
    (half-widths) or discs (radii) of a size drawn uniformly in ``size`` (m), centred uniformly
    in ``box`` (one (low, high) pair per axis; its length sets the dimension).
    """

    count: tuple[int, int] = (1, 4)
    size: tuple[float, float] = (0.05, 0.2)
    conductivity: float = 1e-3
    background: float = 1.0
    box: tuple[tuple[float, float], ...] = ((0.0, 1.0), (0.0, 1.0))
    shape: str = "box"
    modes: int = 0
    amplitude: float = 0.0
    key: str = "material.conductivity"

    def draw(self, rng: np.random.Generator) -> str:
        """A conductivity expression in the scene expression language (x, y, z in m)."""
        axes = "xyz"[: len(self.box)]
        terms = []
        for _ in range(self.modes):
            waves = rng.integers(1, self.modes + 1, size=len(axes)) * rng.choice([-1, 1], size=len(axes))
            phase = " + ".join(
                f"{2 * math.pi * k / (hi - lo):.6g} * {a}" for k, a, (lo, hi) in zip(waves, axes, self.box, strict=True)
            )
            weight = self.amplitude * rng.standard_normal() / math.sqrt(self.modes)
            terms.append(f"{weight:.6g} * cos({phase} + {rng.uniform(0, 2 * math.pi):.6g})")
        background = f"{self.background:.6g}" + (f" * exp({' + '.join(terms)})" if terms else "")
        parts = []
        for _ in range(int(rng.integers(self.count[0], self.count[1], endpoint=True))):
            centre = [rng.uniform(lo, hi) for lo, hi in self.box]
            if self.shape == "disc":
                r = rng.uniform(*self.size)
                squares = " + ".join(f"({a} - {c:.6g})**2" for a, c in zip(axes, centre, strict=True))
                parts.append(f"({squares} < {r * r:.6g})")
            else:
                half = rng.uniform(*self.size, size=len(axes))
                sides = " and ".join(
                    f"abs({a} - {c:.6g}) < {h:.6g}" for a, c, h in zip(axes, centre, half, strict=True)
                )
                parts.append(f"({sides})")
        if not parts:
            return background
        inside = " or ".join(parts)
        return f"({background}) * (1 - ({inside})) + {self.conductivity:.6g} * ({inside})"


@dataclass(frozen=True)
class GenerateSpec:
    """How the samples of a scene family differ: dotted scene key -> distribution."""

    parameters: tuple[tuple[str, Distribution], ...] = ()
    obstacles: ObstacleSpec | None = None

    @classmethod
    def from_table(cls, table: dict, source: str = "<dict>") -> GenerateSpec:
        """Parse a ``[generate]`` table; InputError (naming ``source`` and the key) on a bad entry."""
        if not isinstance(table, dict):
            raise InputError(f"{source}: [generate] must be a table")
        parameters, obstacles = [], None
        for key, value in table.items():
            where = f"{source}: [generate].{json.dumps(key)}"
            if key == "obstacles":
                obstacles = _obstacles(value, where)
                continue
            if not all(part.strip() for part in key.split(".")):
                raise InputError(f'{where}: expected a dotted scene key such as "material.E"')
            parameters.append((key, _distribution(value, where)))
        return cls(tuple(parameters), obstacles)

    def draw(self, rng: np.random.Generator) -> dict[str, Any]:
        """One sample: scene key -> value, in declaration order (obstacles last)."""
        values = {key: dist.draw(rng) for key, dist in self.parameters}
        if self.obstacles is not None:
            values[self.obstacles.key] = self.obstacles.draw(rng)
        return values

    def sample(self, rng: np.random.Generator) -> list[str]:
        """One sample as ``key=value`` overrides for :func:`learnsim.scenes.apply_overrides`."""
        return as_overrides(self.draw(rng))


def as_overrides(values: dict[str, Any]) -> list[str]:
    """``key=value`` strings with each value written as TOML (so apply_overrides reads it back)."""
    return [f"{key}={_toml(value)}" for key, value in values.items()]


def _toml(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")


def _distribution(value: Any, where: str) -> Distribution:
    if not isinstance(value, dict):
        return Distribution("fixed", (value,))
    if len(value) != 1:
        raise InputError(f"{where}: expected one distribution, e.g. {{uniform = [1.0, 2.0]}}, got {len(value)} keys")
    (kind, args), = value.items()  # fmt: skip
    if kind not in DISTRIBUTIONS:
        raise InputError(f"{where}: unknown distribution '{kind}' (valid: {', '.join(DISTRIBUTIONS)})")
    if not isinstance(args, list) or not args:
        raise InputError(f"{where}: {kind} takes a list, e.g. {kind} = [1.0, 2.0]")
    if kind == "choice":
        return Distribution(kind, tuple(args))
    pair = _pair(args, where, kind, integer=kind == "integer")
    if kind == "normal" and pair[1] < 0:
        raise InputError(f"{where}: normal = [mean, std] needs std >= 0, got {pair[1]}")
    if kind != "normal" and pair[0] > pair[1]:
        raise InputError(f"{where}: {kind} = [{pair[0]}, {pair[1]}] has low above high")
    if kind == "loguniform" and pair[0] <= 0:
        raise InputError(f"{where}: loguniform = [low, high] needs low > 0, got {pair[0]}")
    return Distribution(kind, pair)


def _pair(args: Any, where: str, name: str, integer: bool = False) -> tuple:
    numbers = int if integer else int | float
    if not (
        isinstance(args, list)
        and len(args) == 2
        and all(isinstance(a, numbers) and not isinstance(a, bool) for a in args)
    ):
        what = "integers" if integer else "numbers"
        raise InputError(f"{where}: {name} takes two {what} [low, high], got {json.dumps(args)}")
    return tuple(args) if integer else (float(args[0]), float(args[1]))


def _obstacles(value: Any, where: str) -> ObstacleSpec:
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a table such as {{count = [1, 4], size = [0.05, 0.2]}}")
    unknown = sorted(set(value) - set(OBSTACLE_KEYS))
    if unknown:
        raise InputError(f"{where}: unknown key '{unknown[0]}' (valid: {', '.join(OBSTACLE_KEYS)})")
    spec = ObstacleSpec()
    count = _pair(value.get("count", list(spec.count)), f"{where}.count", "count", integer=True)
    size = _pair(value.get("size", list(spec.size)), f"{where}.size", "size")
    box = value.get("box", [list(b) for b in spec.box])
    if not isinstance(box, list) or len(box) not in (2, 3):
        raise InputError(f"{where}.box: expected 2 or 3 [low, high] pairs, got {json.dumps(box)}")
    box = tuple(_pair(b, f"{where}.box", "box") for b in box)
    numbers = {}
    for name in ("conductivity", "background", "amplitude"):
        number = value.get(name, getattr(spec, name))
        if not isinstance(number, int | float) or isinstance(number, bool) or not math.isfinite(number) or number < 0:
            raise InputError(f"{where}.{name}: expected a non-negative number, got {json.dumps(number)}")
        numbers[name] = float(number)
    if numbers["conductivity"] <= 0 or numbers["background"] <= 0:
        raise InputError(f"{where}: conductivity and background must be positive")
    modes, shape, key = value.get("modes", 0), value.get("shape", "box"), value.get("key", spec.key)
    if not isinstance(modes, int) or isinstance(modes, bool) or modes < 0:
        raise InputError(f"{where}.modes: expected a non-negative integer, got {json.dumps(modes)}")
    if shape not in ("box", "disc"):
        raise InputError(f"{where}.shape: '{shape}' is not one of box, disc")
    if count[0] < 0 or count[0] > count[1] or size[0] <= 0 or size[0] > size[1]:
        raise InputError(f"{where}: count and size must be [low, high] with 0 <= low <= high (size > 0)")
    return ObstacleSpec(count, size, box=box, shape=shape, modes=modes, key=str(key), **numbers)
