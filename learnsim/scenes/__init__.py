"""Scene description: the typed :class:`Scene`, its TOML loader and checks, built-in scenes."""

from learnsim.scenes.expression import Expression
from learnsim.scenes.loader import (
    apply_overrides,
    builtin_scenes,
    load_scene,
    scene_from_dict,
    scene_to_dict,
)
from learnsim.scenes.scene import (
    BC_TYPES,
    FIELDS,
    GENERATORS,
    KINDS,
    LOAD_TYPES,
    MODELS,
    PRECONDITIONERS,
    BoundaryCondition,
    Load,
    MaterialSpec,
    MeshSpec,
    OutputSpec,
    Scene,
    SceneInfo,
    SolverSpec,
)

__all__ = [
    "BC_TYPES",
    "FIELDS",
    "GENERATORS",
    "KINDS",
    "LOAD_TYPES",
    "MODELS",
    "PRECONDITIONERS",
    "BoundaryCondition",
    "Expression",
    "Load",
    "MaterialSpec",
    "MeshSpec",
    "OutputSpec",
    "Scene",
    "SceneInfo",
    "SolverSpec",
    "apply_overrides",
    "builtin_scenes",
    "load_scene",
    "scene_from_dict",
    "scene_to_dict",
]
