"""Scene description: the typed :class:`Scene`, its TOML loader and checks, built-in scenes, scene families.

A scene is data: :func:`load_scene` reads a TOML file or a built-in and checks every key;
:class:`Scene` built in Python gets the same checks. :mod:`learnsim.running` runs it.
"""

from learnsim.scenes.expression import Expression
from learnsim.scenes.family import SceneFamily, load_family
from learnsim.scenes.loader import apply_overrides, builtin_scenes, load_scene, scene_from_dict, scene_to_dict
from learnsim.scenes.scene import Scene
from learnsim.scenes.specs import (
    BC_TYPES,
    FIELDS,
    GENERATORS,
    INTEGRATORS,
    KINDS,
    LOAD_TYPES,
    MASSES,
    MODELS,
    PRECONDITIONERS,
    RAMPS,
    BoundaryCondition,
    InitialSpec,
    Load,
    MaterialSpec,
    MeshSpec,
    OutputSpec,
    SceneInfo,
    SolverSpec,
    TimeSpec,
)
from learnsim.scenes.sph_spec import Box, FluidSpec, SPHSpec, WallSpec

__all__ = [
    "BC_TYPES",
    "FIELDS",
    "GENERATORS",
    "INTEGRATORS",
    "KINDS",
    "LOAD_TYPES",
    "MASSES",
    "MODELS",
    "PRECONDITIONERS",
    "RAMPS",
    "BoundaryCondition",
    "Box",
    "Expression",
    "FluidSpec",
    "InitialSpec",
    "Load",
    "MaterialSpec",
    "MeshSpec",
    "OutputSpec",
    "SPHSpec",
    "Scene",
    "SceneFamily",
    "SceneInfo",
    "SolverSpec",
    "TimeSpec",
    "WallSpec",
    "apply_overrides",
    "builtin_scenes",
    "load_family",
    "load_scene",
    "scene_from_dict",
    "scene_to_dict",
]
