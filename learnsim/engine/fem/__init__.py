"""Finite elements on warp.fem: meshes, discretisation, integrands, materials and static solves.

A problem reads top to bottom: ``box_mesh`` -> ``discretize`` -> ``assemble_*`` ->
``make_dirichlet`` -> ``solve_linear_static`` / ``solve_nonlinear_static`` (with a material of
:mod:`~learnsim.engine.fem.materials`).
"""

from learnsim.core.mesh import ELEMENTS, Mesh, box_mesh, make_mesh, quadrilateral_mesh
from learnsim.engine.fem.assembly import (
    assemble_boundary_value,
    assemble_diffusion,
    assemble_linear_elasticity,
    assemble_mass,
    assemble_pressure,
    assemble_source,
    assemble_stress_divergence,
    displacement_gradients,
    evaluate_at_points,
    lame_per_point,
    make_field,
)
from learnsim.engine.fem.boundary import Dirichlet, apply_dirichlet, boundary_sides, make_dirichlet
from learnsim.engine.fem.discretization import Discretization, boundary_side_centroids, discretize
from learnsim.engine.fem.materials import (
    LAWS,
    Conduction,
    LinearElastic,
    Material,
    NeoHookean,
    first_piola,
    lame_from_young_poisson,
)
from learnsim.engine.fem.postprocess import von_mises_per_cell
from learnsim.engine.fem.statics import StaticResult, solve_linear_static, solve_nonlinear_static

__all__ = [
    "ELEMENTS",
    "LAWS",
    "Conduction",
    "Material",
    "first_piola",
    "Dirichlet",
    "Discretization",
    "LinearElastic",
    "Mesh",
    "NeoHookean",
    "StaticResult",
    "apply_dirichlet",
    "assemble_boundary_value",
    "assemble_diffusion",
    "assemble_linear_elasticity",
    "assemble_mass",
    "assemble_pressure",
    "assemble_source",
    "assemble_stress_divergence",
    "boundary_side_centroids",
    "boundary_sides",
    "box_mesh",
    "discretize",
    "displacement_gradients",
    "evaluate_at_points",
    "lame_from_young_poisson",
    "lame_per_point",
    "make_dirichlet",
    "make_field",
    "make_mesh",
    "quadrilateral_mesh",
    "solve_linear_static",
    "solve_nonlinear_static",
    "von_mises_per_cell",
]
