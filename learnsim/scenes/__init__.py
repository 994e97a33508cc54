"""Scene description: the typed :class:`Scene`, its TOML loader and checks, built-in scenes, scene families.

A scene is data: :func:`load_scene` reads a TOML file or a built-in and checks every key; a
:class:`Scene` built in Python gets the same checks. :mod:`learnsim.running` runs it. The parts
(``MeshSpec``, ``MaterialSpec``, ...) are in :mod:`~learnsim.scenes.specs` and
:mod:`~learnsim.scenes.sph_spec`, with the words their keys may take.
"""

from learnsim.core.expression import Expression
from learnsim.scenes.loader import (
    SceneFamily,
    apply_overrides,
    builtin_scenes,
    load_family,
    load_scene,
    scene_from_dict,
    scene_to_dict,
)
from learnsim.scenes.scene import Scene
from learnsim.scenes.specs import (
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
