"""Particles of an SPH scene: lattices filling the [[fluid]] and [[wall]] boxes.

Every box is filled with a square (2D) or cubic (3D) lattice of the scene's spacing dx,
cell-centred and anchored at the box's lower corner: the points lower + (k + 1/2) dx,
k = 0 .. round(extent / dx) - 1 per axis. Boxes whose corners lie on a common dx grid thus
share one lattice, and a fluid box touching a wall box leaves exactly dx between the two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from learnsim.core.errors import InputError
from learnsim.core.expression import Expression
from learnsim.scenes.checker import format_value
from learnsim.scenes.scene import Scene
from learnsim.scenes.sph_spec import Box

VERTICAL = 1
"""The y axis points up: a tank is open towards +y."""


@dataclass(frozen=True)
class Particles:
    """Initial particles, float64.

    Attributes:
        fluid: (n_fluid, dim) positions (m); fluid_velocities: (n_fluid, dim) (m/s).
        walls: (n_wall, dim) positions (m); wall_velocities: (n_wall, dim) constant (m/s).
    """

    fluid: np.ndarray
    fluid_velocities: np.ndarray
    walls: np.ndarray
    wall_velocities: np.ndarray


def lattice(box: Box, spacing: float) -> np.ndarray:
    """(n, dim) cell-centred lattice points of spacing ``spacing`` (m) filling ``box``, x slowest."""
    corners = zip(box.lower, box.upper, strict=True)
    axes = [lo + (np.arange(_count(lo, hi, spacing)) + 0.5) * spacing for lo, hi in corners]
    grids = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.ravel() for g in grids], axis=1)


def tank(box: Box, spacing: float, layers: int) -> np.ndarray:
    """(n, dim) wall points of an open-top tank whose inside is ``box``: ``layers`` lattice
    layers below it and on every side, up to the box's top."""
    dim = len(box.lower)
    inner_upper = [lo + _count(lo, hi, spacing) * spacing for lo, hi in zip(box.lower, box.upper, strict=True)]
    grow = layers * spacing
    lower = tuple(lo - grow for lo in box.lower)
    upper = tuple(hi if axis == VERTICAL else hi + grow for axis, hi in enumerate(inner_upper))
    points = lattice(Box(lower, upper), spacing)
    inside = np.ones(len(points), dtype=bool)
    for axis in range(dim):
        inside &= points[:, axis] > box.lower[axis]
        if axis != VERTICAL:
            inside &= points[:, axis] < inner_upper[axis]
    return points[~inside]


def build_particles(scene: Scene) -> Particles:
    """The fluid and wall particles of a checked SPH ``scene``.

    Raises:
        InputError: a fluid region that selects no lattice point, an initial velocity formula
            that is not finite, a particle outside ``[sph].domain``, or fluid and wall
            particles closer than half a spacing (overlapping boxes).
    """
    sph, dim, source = scene.sph, scene.dim, scene.source
    fluid, fluid_v = [], []
    for i, spec in enumerate(scene.fluids):
        points = lattice(spec.box, sph.spacing)
        if spec.region is not None:
            points = points[spec.region.select(points)]
            if len(points) == 0:
                raise InputError(
                    f'{source}: [[fluid]][{i}].region = "{spec.region.source}" selects no particle of its box'
                )
        velocity = np.zeros_like(points)
        for axis, value in enumerate(spec.velocity or ()):
            velocity[:, axis] = _values(source, f"[[fluid]][{i}].velocity", value, points)
        fluid.append(points)
        fluid_v.append(velocity)
    walls, wall_v = [np.zeros((0, dim))], [np.zeros((0, dim))]
    for spec in scene.walls:
        points = lattice(spec.box, sph.spacing) if spec.kind == "block" else tank(spec.box, sph.spacing, spec.layers)
        walls.append(points)
        wall_v.append(np.tile(np.asarray(spec.velocity or (0.0,) * dim), (len(points), 1)))
    if sph.domain is not None:
        for name, blocks in (("fluid", fluid), ("wall", walls[1:])):
            for i, points in enumerate(blocks):
                _inside_domain(scene, f"[[{name}]][{i}]", points)
    particles = Particles(np.concatenate(fluid), np.concatenate(fluid_v), np.concatenate(walls), np.concatenate(wall_v))
    _no_overlap(scene, particles)
    return particles


def _count(lower: float, upper: float, spacing: float) -> int:
    return int(axis_count(lower, upper, spacing))


def axis_count(lower: float, upper: float, spacing: float) -> float:
    """Lattice points along one axis, round(extent / spacing) but at least 1: a float, so that a
    spacing tiny against the box is counted (inf where the ratio overflows) rather than laid out."""
    ratio = (upper - lower) / spacing
    return max(1.0, float(round(ratio))) if math.isfinite(ratio) else math.inf


def particle_count(box: Box, spacing: float, layers: int | None = None) -> float:
    """Points of :func:`lattice` (``layers`` None) or :func:`tank` (``layers`` given) on ``box``,
    counted without laying them out."""
    inner = [axis_count(lo, hi, spacing) for lo, hi in zip(box.lower, box.upper, strict=True)]
    if layers is None:
        return math.prod(inner)
    outer = [n + (1 if axis == VERTICAL else 2) * layers for axis, n in enumerate(inner)]
    return math.inf if math.isinf(math.prod(inner)) else math.prod(outer) - math.prod(inner)


def _values(source: str, key: str, value: float | Expression, points: np.ndarray) -> np.ndarray:
    if not isinstance(value, Expression):
        return np.full(len(points), float(value))
    values = value.evaluate(points)
    bad = ~np.isfinite(values)
    if bad.any():
        k = int(np.argmax(bad))
        where = np.array2string(points[k], precision=4)
        raise InputError(f'{source}: {key} = "{value.source}" is {values[k]:g} at {where}; it must be finite')
    return values


def _inside_domain(scene: Scene, key: str, points: np.ndarray) -> None:
    lower, upper = (np.asarray(c) for c in (scene.sph.domain.lower, scene.sph.domain.upper))
    outside = np.any((points < lower) | (points > upper), axis=1)
    if outside.any():
        point = np.array2string(points[int(np.argmax(outside))], precision=4)
        domain = {"lower": list(lower), "upper": list(upper)}
        raise InputError(
            f"{scene.source}: {key} has {int(outside.sum())} particle(s) outside [sph].domain = "
            f"{format_value(domain)}, e.g. at {point}"
        )


def _no_overlap(scene: Scene, particles: Particles) -> None:
    if len(particles.walls) == 0:
        return
    from scipy.spatial import cKDTree

    distance, _ = cKDTree(particles.walls).query(particles.fluid, distance_upper_bound=0.5 * scene.sph.spacing)
    close = np.isfinite(distance)
    if close.any():
        point = np.array2string(particles.fluid[int(np.argmax(close))], precision=4)
        raise InputError(
            f"{scene.source}: [[fluid]] and [[wall]] boxes overlap: {int(close.sum())} fluid particle(s) lie on "
            f"wall particles, e.g. at {point}"
        )
