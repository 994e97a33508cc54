"""Neural incomplete factorisation: a graph network that predicts ``L`` with ``L L^T ~= A`` on tril(A).

After Li et al. 2023 (*Learning preconditioners for conjugate gradient PDE solvers*) and NeuralIF
(Häusner et al. 2023). The network sees the matrix graph (a node per unknown, an edge per stored entry)
of the diagonally scaled matrix ``Â = D^{-1/2} A D^{-1/2}`` (``D = diag(A)``, so ``Â`` has a unit
diagonal and the network is blind to the units and the mesh size), and outputs ``L̂`` on the sparsity of
``tril(A)``; the factor of ``A`` itself is ``L = D^{1/2} L̂``, so ``L L^T = D^{1/2} L̂ L̂^T D^{1/2}``.

Parameterisation (an IC-like form, so that an untrained network is already a preconditioner):

- diagonal: ``L̂_ii = exp(4 tanh(o_i / 4))`` (positive by construction, hence ``M = (L L^T)^{-1}`` is SPD);
- below the diagonal: ``L̂_ij = â_ij (1 + 2 tanh(o_ij / 2)) / L̂_jj`` (IC(0)'s ``l_ij = a_ij / l_jj`` with a
  learned correction).

where ``o`` are the network's node and edge outputs; the ``tanh`` bounds keep ``L`` finite whatever the
weights.

With the last layer initialised to zero, ``o = 0`` and ``L̂ = I + tril(Â, -1)``: symmetric Gauss-Seidel.
Edge inputs carry ``â_ij`` and whether ``j`` comes before ``i`` in the numbering (the factor depends on
the order); messages are summed separately from earlier and from later neighbours.

Graphs of several systems are batched by stacking them block-diagonally (:func:`batch_graphs`), which
keeps every operation a ``segment_sum`` over edges.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from learnsim.core.errors import InputError
from learnsim.core.systems import LinearSystem
from learnsim.learned.training import Recipe


class MatrixGraph(NamedTuple):
    """The scaled matrix ``Â = D^{-1/2} A D^{-1/2}`` of one system (or several, block-diagonally) as a graph.

    Attributes:
        rows, cols: int32 edge end points, shape ``(nnz,)``: every stored entry of ``A``, diagonal included.
        values: float ``â_ij``, shape ``(nnz,)``.
        scale: ``sqrt(a_ii)``, shape ``(n,)``, to map ``L̂`` back to ``L = D^{1/2} L̂``.
        solution, rhs: scaled ``x̂ = D^{1/2} x`` and ``b̂ = D^{-1/2} b`` with ``||b̂|| = 1`` per system,
            shape ``(n,)``, for the solution-weighted loss (``Â x̂ = b̂``).
        n_nodes: number of unknowns ``n`` (a static Python int).
        n_systems: number of systems stacked in the graph (static).
    """

    rows: jax.Array
    cols: jax.Array
    values: jax.Array
    scale: jax.Array
    solution: jax.Array
    rhs: jax.Array
    n_nodes: int
    n_systems: int


def matrix_graph(system: LinearSystem | sp.spmatrix, dtype=None, with_solution: bool = True) -> MatrixGraph:
    """The graph of one system; its solution is computed with scipy's ``spsolve`` when missing.

    Args:
        system: a :class:`LinearSystem`, or a bare SPD scipy matrix (then ``b`` is all ones).
        dtype: float dtype of the arrays (default: JAX's default float, float64 with x64 enabled).
        with_solution: False skips the solve (``solution`` is then zeros): enough to compute a factor,
            not for :func:`solution_loss`.

    Raises:
        InputError: the matrix is not square or has a missing or non-positive diagonal entry.
    """
    if isinstance(system, LinearSystem):
        matrix, rhs, solution = system.matrix, system.rhs, system.solution
    else:
        matrix, rhs, solution = system, None, None
    matrix = sp.csr_matrix(matrix, dtype=np.float64)
    n = matrix.shape[0]
    if matrix.shape != (n, n):
        raise InputError(f"gnn-factor needs a square matrix, got shape {matrix.shape}")
    matrix.sum_duplicates()
    diagonal = matrix.diagonal()
    bad = np.flatnonzero(~(diagonal > 0.0))
    if bad.size:
        raise InputError(f"gnn-factor needs a positive diagonal: A[{bad[0]}, {bad[0]}] = {diagonal[bad[0]]:.3e}")
    rhs = np.ones(n) if rhs is None else np.asarray(rhs, dtype=np.float64)
    if not with_solution:
        solution = np.zeros(n)
    elif solution is None:
        solution = spla.spsolve(matrix.tocsc(), rhs)
    scale = np.sqrt(diagonal)
    entries = matrix.tocoo()
    values = entries.data / (scale[entries.row] * scale[entries.col])
    scaled_rhs = rhs / scale
    norm = np.linalg.norm(scaled_rhs) or 1.0
    dtype = dtype or jnp.zeros(()).dtype
    return MatrixGraph(
        rows=jnp.asarray(entries.row, dtype=jnp.int32),
        cols=jnp.asarray(entries.col, dtype=jnp.int32),
        values=jnp.asarray(values, dtype=dtype),
        scale=jnp.asarray(scale, dtype=dtype),
        solution=jnp.asarray(scale * np.asarray(solution) / norm, dtype=dtype),
        rhs=jnp.asarray(scaled_rhs / norm, dtype=dtype),
        n_nodes=n,
        n_systems=1,
    )


def batch_graphs(graphs: Sequence[MatrixGraph]) -> MatrixGraph:
    """Stack graphs block-diagonally into one (node indices of graph ``k`` shifted by the sizes before it)."""
    offsets = np.concatenate([[0], np.cumsum([g.n_nodes for g in graphs])])
    return MatrixGraph(
        rows=jnp.concatenate([g.rows + int(o) for g, o in zip(graphs, offsets, strict=False)]),
        cols=jnp.concatenate([g.cols + int(o) for g, o in zip(graphs, offsets, strict=False)]),
        values=jnp.concatenate([g.values for g in graphs]),
        scale=jnp.concatenate([g.scale for g in graphs]),
        solution=jnp.concatenate([g.solution for g in graphs]),
        rhs=jnp.concatenate([g.rhs for g in graphs]),
        n_nodes=int(offsets[-1]),
        n_systems=sum(g.n_systems for g in graphs),
    )


def _mlp(in_size: int, out_size: int, width: int, key: jax.Array) -> eqx.nn.MLP:
    return eqx.nn.MLP(in_size, out_size, width, depth=1, activation=jax.nn.gelu, key=key)


def _initialised(build, rng: np.random.Generator, *args):
    """``build(*args, key=...)`` with every weight and bias drawn from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
    (equinox's default for ``Linear``) by NumPy, without running JAX's initialisers."""
    shapes = eqx.filter_eval_shape(lambda: build(*args, key=jax.random.key(0)))

    def draw(linear: eqx.nn.Linear) -> eqx.nn.Linear:
        bound = 1.0 / np.sqrt(linear.weight.shape[-1])
        return eqx.tree_at(
            lambda m: (m.weight, m.bias),
            linear,
            (
                jnp.asarray(rng.uniform(-bound, bound, linear.weight.shape), dtype=linear.weight.dtype),
                jnp.asarray(rng.uniform(-bound, bound, linear.bias.shape), dtype=linear.bias.dtype),
            ),
        )

    is_linear = lambda m: isinstance(m, eqx.nn.Linear)
    return jax.tree.map(lambda m: draw(m) if is_linear(m) else m, shapes, is_leaf=is_linear)


def _zeroed(linear: eqx.nn.Linear) -> eqx.nn.Linear:
    zeros = lambda a: jnp.asarray(np.zeros(a.shape), dtype=a.dtype)
    return eqx.tree_at(lambda m: (m.weight, m.bias), linear, (zeros(linear.weight), zeros(linear.bias)))


def _stack(modules: list) -> eqx.Module:
    """One module whose arrays carry a leading axis over ``modules`` (all of one structure)."""
    arrays = [eqx.filter(m, eqx.is_array) for m in modules]
    stacked = jax.tree.map(lambda *leaves: jnp.asarray(np.stack([np.asarray(v) for v in leaves])), *arrays)
    return eqx.combine(stacked, eqx.partition(modules[0], eqx.is_array)[1])


class _MessagePassing(eqx.Module):
    edge_update: eqx.nn.MLP
    node_update: eqx.nn.MLP

    def __init__(self, width: int, key: jax.Array):
        edge_key, node_key = jax.random.split(key)
        self.edge_update = _mlp(3 * width, width, width, edge_key)
        self.node_update = _mlp(3 * width, width, width, node_key)

    def __call__(self, graph: MatrixGraph, nodes: jax.Array, edges: jax.Array, earlier: jax.Array):
        # nodes (n, width), edges (nnz, width); earlier (nnz, 1) is 1 where col < row.
        messages = jax.vmap(self.edge_update)(jnp.concatenate([edges, nodes[graph.rows], nodes[graph.cols]], -1))
        edges = edges + messages
        from_earlier = jax.ops.segment_sum(messages * earlier, graph.rows, graph.n_nodes)
        from_later = jax.ops.segment_sum(messages * (1.0 - earlier), graph.rows, graph.n_nodes)
        nodes = nodes + jax.vmap(self.node_update)(jnp.concatenate([nodes, from_earlier, from_later], -1))
        return nodes, edges


class GNNFactor(eqx.Module):
    """Graph network mapping a matrix to the values of its incomplete factor (see the module docstring).

    Args:
        width: size of node and edge embeddings.
        layers: number of message-passing layers (the receptive field, in graph hops).
        key: ``jax.random`` key for the initial weights.
    """

    width: int = eqx.field(static=True)
    layers: int = eqx.field(static=True)
    node_encoder: eqx.nn.MLP
    edge_encoder: eqx.nn.MLP
    message_passing: _MessagePassing  # ``layers`` layers stacked on a leading axis, run by lax.scan
    edge_decoder: eqx.nn.Linear
    node_decoder: eqx.nn.Linear

    def __init__(self, width: int = 16, layers: int = 4, *, key: jax.Array):
        if width < 1 or layers < 1:
            raise InputError(f"gnn-factor: width and layers must be positive, got width={width}, layers={layers}")
        self.width, self.layers = width, layers
        # Weights are drawn with NumPy into shapes traced by eqx.filter_eval_shape: initialising dozens of
        # small arrays eagerly in JAX compiles one XLA program per shape (seconds on a busy CPU).
        rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel())
        self.node_encoder = _initialised(_mlp, rng, 3, width, width)
        self.edge_encoder = _initialised(_mlp, rng, 3, width, width)
        # Stacked layers, run by lax.scan: they compile once whatever their number.
        self.message_passing = _stack([_initialised(_MessagePassing, rng, width) for _ in range(layers)])
        # Zero output layers: the untrained factor is symmetric Gauss-Seidel's (module docstring).
        self.edge_decoder = _zeroed(eqx.filter_eval_shape(eqx.nn.Linear, width, 1, key=jax.random.key(0)))
        self.node_decoder = _zeroed(eqx.filter_eval_shape(eqx.nn.Linear, width, 1, key=jax.random.key(0)))

    @property
    def hyperparameters(self) -> dict:
        return {"width": self.width, "layers": self.layers}

    def __call__(self, graph: MatrixGraph) -> jax.Array:
        """Values of ``L̂`` at every edge of ``graph`` (zero above the diagonal), shape ``(nnz,)``."""
        n = graph.n_nodes
        off_diagonal = (graph.rows != graph.cols).astype(graph.values.dtype)
        earlier = (graph.cols < graph.rows).astype(graph.values.dtype)[:, None]
        a = graph.values * off_diagonal
        row_sum = jax.ops.segment_sum(graph.values, graph.rows, n)  # 1 - leakage: < 1 near Dirichlet rows
        row_max = jax.ops.segment_max(jnp.abs(a), graph.rows, n)
        degree = jax.ops.segment_sum(off_diagonal, graph.rows, n)
        nodes = jax.vmap(self.node_encoder)(jnp.stack([row_sum, row_max, degree / 4.0], -1))
        edges = jax.vmap(self.edge_encoder)(jnp.stack([a, earlier[:, 0], 1.0 - off_diagonal], -1))
        weights, structure = eqx.partition(self.message_passing, eqx.is_array)

        def layer(carry, layer_weights):
            return eqx.combine(layer_weights, structure)(graph, *carry, earlier), None

        (nodes, edges), _ = jax.lax.scan(layer, (nodes, edges), weights)
        # Bounded outputs (tanh) keep L finite and well conditioned whatever the weights: the scaled
        # diagonal stays in [e^-4, e^4], each off-diagonal between -1 and 3 times IC(0)'s form.
        diagonal = jnp.exp(4.0 * jnp.tanh(jax.vmap(self.node_decoder)(nodes)[:, 0] / 4.0))
        correction = 2.0 * jnp.tanh(jax.vmap(self.edge_decoder)(edges)[:, 0] / 2.0)
        lower = a * (1.0 + correction) / diagonal[graph.cols] * earlier[:, 0]
        return lower + (1.0 - off_diagonal) * diagonal[graph.rows]

    def factor(self, system: LinearSystem | sp.spmatrix) -> sp.csr_matrix:
        """The factor ``L`` of the original (unscaled) matrix as host scipy CSR, float64.

        ``L`` is lower triangular with exactly the pattern of ``tril(A)`` and a positive diagonal; use it as
        ``FactorPreconditioner(A_bsr, L)``. Costs one forward pass (compiled per graph size).
        """
        graph = matrix_graph(system, with_solution=False)
        values = np.asarray(_forward(self, graph), dtype=np.float64)
        rows, cols = np.asarray(graph.rows), np.asarray(graph.cols)
        keep = cols <= rows
        scale = np.asarray(graph.scale, dtype=np.float64)
        n = graph.n_nodes
        L = sp.csr_matrix((values[keep] * scale[rows[keep]], (rows[keep], cols[keep])), shape=(n, n))
        L.sort_indices()
        return L


@eqx.filter_jit
def _forward(model: GNNFactor, graph: MatrixGraph) -> jax.Array:
    return model(graph)


def _factor_product(graph: MatrixGraph, lower: jax.Array, z: jax.Array) -> jax.Array:
    """``L̂ L̂^T z`` for ``z`` of shape ``(n, k)``."""
    transposed = jax.ops.segment_sum(lower[:, None] * z[graph.rows], graph.cols, graph.n_nodes)
    return jax.ops.segment_sum(lower[:, None] * transposed[graph.cols], graph.rows, graph.n_nodes)


def _matrix_product(graph: MatrixGraph, z: jax.Array) -> jax.Array:
    return jax.ops.segment_sum(graph.values[:, None] * z[graph.cols], graph.rows, graph.n_nodes)


def frobenius_loss(model: GNNFactor, graph: MatrixGraph, key: jax.Array, probes: int = 4) -> jax.Array:
    """Stochastic Frobenius loss ``E ||(L̂ L̂^T - Â) z||^2 / n`` over ``z ~ N(0, I)`` (Hutchinson).

    Its expectation is ``||L̂ L̂^T - Â||_F^2 / n``; ``probes`` random vectors per call.
    """
    z = jax.random.normal(key, (graph.n_nodes, probes), dtype=graph.values.dtype)
    residual = _factor_product(graph, model(graph), z) - _matrix_product(graph, z)
    return jnp.sum(residual**2) / (graph.n_nodes * probes)


def solution_loss(model: GNNFactor, graph: MatrixGraph, key: jax.Array | None = None) -> jax.Array:
    """Solution-weighted loss ``||L̂ L̂^T x̂ - b̂||^2`` per system (``||b̂|| = 1``), averaged over systems.

    ``x̂`` is a solution of the system (smooth for a diffusion problem), so the loss weights the
    low-frequency error that CG struggles with most. ``key`` is unused (the signature of ``fit``).
    """
    residual = _factor_product(graph, model(graph), graph.solution[:, None])[:, 0] - graph.rhs
    return jnp.sum(residual**2) / graph.n_systems


def combined_loss(
    model: GNNFactor, graph: MatrixGraph, key: jax.Array, frobenius_weight: float = 0.1, probes: int = 4
) -> jax.Array:
    """``solution_loss + frobenius_weight * frobenius_loss``: low frequencies from the solution, the rest
    from random probes (the Frobenius term keeps ``L̂ L̂^T`` close to ``Â`` where the solution is flat)."""
    return solution_loss(model, graph) + frobenius_weight * frobenius_loss(model, graph, key, probes)


# --- the registry's protocol (learnsim.learned.registry): kind "gnn-factor", a preconditioner


def build(hyperparameters: dict) -> GNNFactor:
    """A model of the shapes ``hyperparameters`` give (``{"width", "layers"}``), zero output layers."""
    return GNNFactor(**hyperparameters, key=jax.random.key(0))


def recipe(systems: Sequence[LinearSystem], seed: int) -> Recipe:
    """Width 8, 4 layers, the solution-weighted loss, batches of 4 systems, Adam 1e-2."""

    def batches(part):
        graphs = [matrix_graph(system) for system in part]
        return [batch_graphs(graphs[i : i + 4]) for i in range(0, len(graphs), 4)]

    return Recipe(GNNFactor(8, 4, key=jax.random.key(seed)), solution_loss, batches, 1e-2)


factor = GNNFactor.factor
"""``factor(model, matrix)``: the factor ``L`` of ``matrix`` (see :meth:`GNNFactor.factor`)."""
