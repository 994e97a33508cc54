"""A mesh equipped with a Lagrange space and a quadrature, on warp.fem, in float64.

Coefficients (conductivity, Lame parameters, loads) are passed to integrands as arrays
with one row per quadrature point: that keeps integrands independent of how a coefficient
was defined (constant, per cell, an expression of x y z, or the output of a JAX model).
Quadrature points are numbered cell by cell (``points_per_cell`` consecutive points).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import warp as wp
import warp.fem as fem

from learnsim.core.mesh import Mesh

_GEOMETRIES = {"tri": fem.Trimesh2D, "quad": fem.Quadmesh2D, "tet": fem.Tetmesh, "hex": fem.Hexmesh}


@fem.integrand
def _position(s: fem.Sample, domain: fem.Domain):
    return domain(s)


@fem.integrand
def _weight(s: fem.Sample, domain: fem.Domain):
    return fem.measure(domain, s) * s.qp_weight


@dataclass(frozen=True, eq=False)
class Discretization:
    """Lagrange finite elements of degree ``order`` on ``mesh``.

    Attributes:
        mesh: the mesh (its vertices are the first ``mesh.n_points`` nodes of the space).
        order: polynomial degree, 1 (P1/Q1) or 2 (P2/Q2).
        components: 1 for a scalar field (temperature), ``dim`` for a vector field (displacement).
        geometry, space, cells, quadrature: the warp.fem objects.
        node_positions: (n_nodes, dim) float64.
        quadrature_points: (n_qp, dim) float64 positions of the cell quadrature points.
        quadrature_weights: (n_qp,) float64, weight times Jacobian (they sum to the volume).
    """

    mesh: Mesh
    order: int
    components: int
    geometry: fem.Geometry
    space: fem.FunctionSpace
    cells: fem.Cells
    quadrature: fem.RegularQuadrature
    node_positions: np.ndarray
    quadrature_points: np.ndarray
    quadrature_weights: np.ndarray

    @property
    def dim(self) -> int:
        return self.mesh.dim

    @property
    def n_nodes(self) -> int:
        return self.node_positions.shape[0]

    @property
    def n_dofs(self) -> int:
        return self.n_nodes * self.components

    @property
    def points_per_cell(self) -> int:
        return self.quadrature_points.shape[0] // self.mesh.n_cells

    @property
    def value_type(self):
        """Warp type of one node value: wp.float64, wp.vec2d or wp.vec3d."""
        return wp.float64 if self.components == 1 else wp.types.vector(self.dim, wp.float64)

    def per_point(self, values, value_shape: tuple[int, ...] = ()) -> np.ndarray:
        """Broadcast a coefficient to quadrature points, shape (n_qp, *value_shape).

        ``values`` is one value (shape ``value_shape``, e.g. () for a conductivity, (2,) for
        Lame parameters), one value per cell (n_cells, *value_shape) or per point (n_qp, *value_shape).
        """
        values = np.asarray(values, dtype=np.float64)
        n_cells, n_qp = self.mesh.n_cells, self.quadrature_points.shape[0]
        if values.shape == tuple(value_shape):
            return np.broadcast_to(values, (n_qp, *value_shape)).copy()
        if values.shape == (n_qp, *value_shape):
            return values
        if values.shape == (n_cells, *value_shape):
            return np.repeat(values, self.points_per_cell, axis=0)
        raise ValueError(
            f"coefficient of shape {values.shape}: expected {tuple(value_shape)} (constant), "
            f"({n_cells}, ...) per cell or ({n_qp}, ...) per quadrature point"
        )

    def zeros(self) -> wp.array:
        """A zero nodal vector of the space's value type."""
        return wp.zeros(self.n_nodes, dtype=self.value_type, device=self.geometry.positions.device)

    def nodal(self, values: np.ndarray) -> wp.array:
        """Nodal values (n_nodes,) or (n_nodes, components) as a Warp array of the value type."""
        return wp.array(np.asarray(values, dtype=np.float64), dtype=self.value_type, device=self.device)

    @property
    def device(self):
        return self.geometry.positions.device

    def cell_average(self, qp_values: np.ndarray) -> np.ndarray:
        """Volume-weighted mean over each cell's quadrature points, (n_qp, ...) -> (n_cells, ...)."""
        w = self.quadrature_weights.reshape(self.mesh.n_cells, self.points_per_cell)
        v = np.asarray(qp_values).reshape(self.mesh.n_cells, self.points_per_cell, -1)
        avg = np.einsum("cq,cqk->ck", w, v) / w.sum(axis=1)[:, None]
        return avg.reshape((self.mesh.n_cells, *np.asarray(qp_values).shape[1:]))


def discretize(
    mesh: Mesh, order: int, components: int = 1, quadrature_order: int | None = None, device=None
) -> Discretization:
    """Build geometry, space and quadrature for ``mesh``.

    Args:
        mesh: the mesh.
        order: Lagrange degree, 1 or 2.
        components: 1 (scalar field) or ``mesh.dim`` (vector field).
        quadrature_order: polynomial degree integrated exactly on affine cells; default
            ``2 * order`` (exact stiffness on simplices and parallelepipeds).
        device: Warp device ("cpu", "cuda:0"); default Warp's default device.
    """
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order}")
    dim = mesh.dim
    if components not in (1, dim):
        raise ValueError(f"components must be 1 or {dim}, got {components}")
    device = wp.get_device(device)
    vec = wp.types.vector(dim, wp.float64)
    positions = wp.array(mesh.points, dtype=vec, device=device)
    indices = wp.array(mesh.cells, dtype=int, device=device)
    geometry = _GEOMETRIES[mesh.element](indices, positions)
    dtype = wp.float64 if components == 1 else vec
    space = fem.make_polynomial_space(geometry, degree=order, dtype=dtype)
    cells = fem.Cells(geometry)
    quadrature = fem.RegularQuadrature(cells, order=quadrature_order or 2 * order)

    n_qp = quadrature.total_point_count()
    points = wp.zeros(n_qp, dtype=vec, device=device)
    weights = wp.zeros(n_qp, dtype=wp.float64, device=device)
    fem.interpolate(_position, dest=points, at=quadrature)
    fem.interpolate(_weight, dest=weights, at=quadrature)
    return Discretization(
        mesh=mesh,
        order=order,
        components=components,
        geometry=geometry,
        space=space,
        cells=cells,
        quadrature=quadrature,
        node_positions=space.node_positions().numpy().astype(np.float64),
        quadrature_points=points.numpy(),
        quadrature_weights=weights.numpy(),
    )


def boundary_side_centroids(disc: Discretization) -> tuple[fem.BoundarySides, np.ndarray]:
    """The boundary sides (edges in 2D, faces in 3D) and their centroids, (n_sides, dim)."""
    sides = fem.BoundarySides(disc.geometry)
    vec = wp.types.vector(disc.dim, wp.float64)
    centroids = wp.zeros(sides.element_count(), dtype=vec, device=disc.device)
    fem.interpolate(_position, dest=centroids, at=sides)
    return sides, centroids.numpy()
