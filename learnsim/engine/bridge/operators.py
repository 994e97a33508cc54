"""Engine operations as JAX functions with exact reverse-mode derivatives.

Each primitive is a ``jax.custom_vjp`` whose forward and backward passes call the Warp engine
through ``jax.pure_callback`` (so they compose with ``jit``, ``grad`` and ``lax.scan``):

- ``solve_implicit``: u solving alpha M (u - u_pred) + f_int(u) = f (alpha = 0: statics),
  differentiated by the implicit function theorem (one adjoint solve, ``engine.adjoint``);
- ``internal_force`` and ``solve_mass``: the pieces of the explicit scheme;
- ``lame_per_point`` / ``per_point``: parameters per cell -> per quadrature point, in JAX.

Arrays are float64 when ``jax_enable_x64`` is on (needed for gradient checks), float32 otherwise;
the engine always computes in float64.
"""

from __future__ import annotations

import functools
import hashlib

import jax
import jax.numpy as jnp
import numpy as np

from learnsim.core.errors import InputError
from learnsim.engine import integrate
from learnsim.engine.adjoint import internal_force_vjp, mass_vjp, solve_implicit_vjp
from learnsim.engine.fem.assembly import assemble_stress_divergence, displacement_gradients
from learnsim.engine.fem.boundary import Dirichlet
from learnsim.engine.fem.discretization import Discretization
from learnsim.engine.fem.materials import Material


class Problem:
    """What stays fixed while parameters change: discretisation, material, constrained dofs, mass kind
    and solver settings. Hashable by identity, so it is a static argument of the primitives.

    The differentiable ``coefficient`` of the primitives is the material's parameter array per
    quadrature point (``(n_qp, 2)`` Lame parameters for the elastic laws, ``(n_qp,)`` conductivity).

    Bodies (and their assembled matrices and preconditioners) are cached by parameter value, so a
    rollout with fixed parameters assembles once.
    """

    def __init__(self, disc: Discretization, material: Material, constrained: np.ndarray, mass: str = "consistent",
                 preconditioner: str = "amg", tol: float = 1e-12, max_iters: int | None = None,
                 newton_tol: float = 1e-10, newton_max_iters: int = 30, cache_size: int = 8):  # fmt: skip
        """``constrained``: (n_nodes, components) bool mask of Dirichlet dofs."""
        if material.history_size:
            raise InputError(
                f"the bridge does not differentiate laws with history yet ({type(material).__name__}): "
                "use learnsim.engine.integrate for its forward runs"
            )
        self.disc = disc
        self.material = material
        self.mask = np.asarray(constrained, dtype=bool).reshape(disc.n_nodes, disc.components)
        self.mass = mass
        self.solver = dict(preconditioner=preconditioner, tol=tol, max_iters=max_iters,
                           newton_tol=newton_tol, newton_max_iters=newton_max_iters)  # fmt: skip
        self._bodies: dict[bytes, integrate.Body] = {}
        self._cache_size = cache_size

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of a nodal field: (n_nodes,) or (n_nodes, dim)."""
        return (self.disc.n_nodes,) if self.disc.components == 1 else (self.disc.n_nodes, self.disc.components)

    @property
    def free(self) -> np.ndarray:
        return ~self.mask[:, 0] if self.disc.components == 1 else ~self.mask

    @property
    def second_order(self) -> bool:
        return self.material.second_order

    @property
    def jax_law(self) -> bool:
        """Whether the material is a law in JAX: ``coefficient`` is then its params pytree."""
        return not self.material.tape_differentiable

    def body(self, coefficient, density: np.ndarray) -> integrate.Body:
        leaves = jax.tree_util.tree_leaves(coefficient) + [density]
        key = hashlib.sha1(b"".join(np.ascontiguousarray(leaf).tobytes() for leaf in leaves)).digest()
        if key not in self._bodies:
            if len(self._bodies) >= self._cache_size:
                self._bodies.pop(next(iter(self._bodies)))
            bc = Dirichlet(mask=self.mask, values=np.zeros(self.mask.shape))
            if self.jax_law:
                material, parameters = self.material.with_params(coefficient), None
            else:
                material, parameters = self.material, coefficient
            self._bodies[key] = integrate.make_body(
                self.disc, material, density, bc, self.mass, parameters=parameters, **self.solver
            )
        return self._bodies[key]


def _host(fn):
    """Run ``fn`` on float64 numpy copies of JAX arrays (pytrees of them too); cast results back to ``dtype``."""

    @functools.wraps(fn)
    def wrapper(*arrays, dtype):
        as_host = functools.partial(jax.tree_util.tree_map, lambda a: np.asarray(a, dtype=np.float64))
        out = fn(*(as_host(a) for a in arrays))
        cast = functools.partial(jax.tree_util.tree_map, lambda o: np.asarray(o, dtype=dtype))
        return tuple(cast(o) for o in out) if isinstance(out, tuple) else cast(out)

    return wrapper


def _callback(fn, result_shape, *args):
    """jax.pure_callback into the engine; under vmap the engine is called once per batch element."""
    return jax.pure_callback(fn, result_shape, *args, vmap_method="sequential")


def _shape(x):
    """The ShapeDtypeStruct of an array, or of every leaf of a pytree."""
    return jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), x)


# --- implicit solve (statics and implicit time steps) -----------------------------------


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def solve_implicit(problem: Problem, alpha: float, u_pred, f, g, coefficient, density):
    """u with alpha M(density) (u - u_pred) + f_int(u; coefficient) = f on free dofs and u = g on
    constrained dofs. coefficient: the material's parameters per point, e.g. (n_qp, 2) Lame (lambda,
    mu) in Pa, or (n_qp,) conductivity; density: (n_qp,). alpha = 0 gives the static problem K u = f."""
    return _solve_forward(problem, alpha, u_pred, f, g, coefficient, density)


def _solve_forward(problem, alpha, u_pred, f, g, coefficient, density):
    @_host
    def run(u_pred, f, g, coefficient, density):
        body = problem.body(coefficient, density)
        return integrate.solve_implicit(body, alpha, u_pred, f, u_guess=u_pred, dirichlet_values=g)

    return _callback(
        functools.partial(run, dtype=jnp.result_type(u_pred)), _shape(u_pred), u_pred, f, g, coefficient, density
    )


def _solve_fwd(problem, alpha, u_pred, f, g, coefficient, density):
    u = _solve_forward(problem, alpha, u_pred, f, g, coefficient, density)
    return u, (u, u_pred, coefficient, density)


def _solve_bwd(problem, alpha, residuals, u_bar):
    u, u_pred, coefficient, density = residuals

    @_host
    def run(u, u_pred, coefficient, density, u_bar):
        body = problem.body(coefficient, density)
        c = solve_implicit_vjp(body, alpha, u, u_pred, u_bar)
        parameters = np.zeros(()) if problem.jax_law else c.parameters.reshape(coefficient.shape)
        return c.u_pred, c.f, c.dirichlet_values, parameters, c.density, c.f

    coefficient_shape = jax.ShapeDtypeStruct((), jnp.result_type(u)) if problem.jax_law else _shape(coefficient)
    shapes = (_shape(u), _shape(u), _shape(u), coefficient_shape, _shape(density), _shape(u))
    run = functools.partial(run, dtype=jnp.result_type(u))
    u_pred_bar, f_bar, g_bar, coefficient_bar, density_bar, lam = _callback(
        run, shapes, u, u_pred, coefficient, density, u_bar
    )
    if problem.jax_law:  # -(d f_int / d params)^T lambda, by JAX through the law and the engine's linear maps
        coefficient_bar = _jax_law_parameters_vjp(problem, u, coefficient, lam)
    return u_pred_bar, f_bar, g_bar, coefficient_bar, density_bar


def _jax_law_parameters_vjp(problem: Problem, u, params, lam):
    """-(d f_int(u; params) / d params)^T lambda for a JAX law: f_int = B^T W P(F(u); params)."""
    _, pullback = jax.vjp(lambda p: -_jax_law_force(problem, u, p), params)
    return pullback(lam)[0]


def _jax_law_force(problem: Problem, u, params):
    """f_int(u; params) of a JAX law, differentiable in u and params: the stress divergence of P(I + grad u)."""
    dim = problem.disc.dim
    F = jnp.eye(dim, dtype=jnp.result_type(u)) + displacement_gradient(problem, u)
    return stress_divergence(problem, jax.vmap(problem.material.stress, in_axes=(0, None))(F, params))


solve_implicit.defvjp(_solve_fwd, _solve_bwd)


def solve_static(problem: Problem, f, g, coefficient):
    """u with K(coefficient) u = f on free dofs and u = g on constrained dofs (differentiable)."""
    density = jnp.zeros(problem.disc.quadrature_points.shape[0], dtype=jnp.result_type(f))
    return solve_implicit(problem, 0.0, jnp.zeros_like(f), f, g, coefficient, density)


# --- pieces of the explicit scheme ------------------------------------------------------


def internal_force(problem: Problem, u, coefficient):
    """f_int(u; coefficient), nodal: the internal force of the problem's material (K u for a linear law).

    For a JAX law this is JAX through the engine's linear maps (exact derivatives in u and params).
    """
    if problem.jax_law:
        return _jax_law_force(problem, u, coefficient)
    return _warp_internal_force(problem, u, coefficient)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _warp_internal_force(problem: Problem, u, coefficient):
    return _force_forward(problem, u, coefficient)


def _force_forward(problem, u, coefficient):
    @_host
    def run(u, coefficient):
        return integrate.internal_force(_stiffness_body(problem, coefficient), problem.disc.nodal(u)).numpy()

    return _callback(functools.partial(run, dtype=jnp.result_type(u)), _shape(u), u, coefficient)


def _force_fwd(problem, u, coefficient):
    return _force_forward(problem, u, coefficient), (u, coefficient)


def _force_bwd(problem, residuals, f_bar):
    u, coefficient = residuals

    @_host
    def run(u, coefficient, f_bar):
        u_bar, c_bar = internal_force_vjp(_stiffness_body(problem, coefficient), u, f_bar)
        return u_bar, c_bar.reshape(coefficient.shape)

    shapes = (_shape(u), _shape(coefficient))
    return _callback(functools.partial(run, dtype=jnp.result_type(u)), shapes, u, coefficient, f_bar)


_warp_internal_force.defvjp(_force_fwd, _force_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def solve_mass(problem: Problem, r, density):
    """a with M(density) a = r on free dofs, a = 0 on constrained dofs."""
    return _mass_forward(problem, r, density)


def _mass_body(problem, density):
    """A body for mass solves: the mass does not depend on the stiffness coefficient (ones here)."""
    n_qp = problem.disc.quadrature_points.shape[0]
    return problem.body(np.ones((n_qp, *problem.material.parameter_shape)), density)


def _stiffness_body(problem, coefficient):
    """A body for force evaluations: f_int does not depend on the density (zeros here)."""
    return problem.body(coefficient, np.zeros(problem.disc.quadrature_points.shape[0]))


def _mass_forward(problem, r, density):
    @_host
    def run(r, density):
        return integrate.solve_mass(_mass_body(problem, density), r)

    return _callback(functools.partial(run, dtype=jnp.result_type(r)), _shape(r), r, density)


def _mass_fwd(problem, r, density):
    a = _mass_forward(problem, r, density)
    return a, (a, density)


def _mass_bwd(problem, residuals, a_bar):
    a, density = residuals

    @_host
    def run(a, density, a_bar):
        body = _mass_body(problem, density)
        lam = integrate.solve_mass(body, a_bar)  # M symmetric: r_bar = M^-1 a_bar on free dofs
        return lam, -mass_vjp(body, a, lam)

    shapes = (_shape(a), _shape(density))
    return _callback(functools.partial(run, dtype=jnp.result_type(a)), shapes, a, density, a_bar)


solve_mass.defvjp(_mass_fwd, _mass_bwd)


# --- parameters -------------------------------------------------------------------------


def per_point(problem: Problem, values):
    """A constant, or one value per cell (n_cells, ...), broadcast to quadrature points (n_qp, ...)."""
    disc = problem.disc
    values = jnp.asarray(values)
    if values.ndim >= 1 and values.shape[0] == disc.mesh.n_cells:
        return jnp.repeat(values, disc.points_per_cell, axis=0)
    return jnp.broadcast_to(values, (disc.quadrature_points.shape[0], *values.shape))


def lame_per_point(problem: Problem, E, nu, plane: str = "strain"):
    """(n_qp, 2) Lame parameters (lambda, mu) in Pa from Young's modulus E and Poisson ratio nu,
    each a constant or one value per cell; plane stress (2D) replaces lambda by 2 lambda mu / (lambda + 2 mu)."""
    E, nu = per_point(problem, E), per_point(problem, nu)
    lam = E * nu / ((1.0 + nu) * (1.0 - 2.0 * nu))
    mu = E / (2.0 * (1.0 + nu))
    if problem.disc.dim == 2 and plane == "stress":
        lam = 2.0 * lam * mu / (lam + 2.0 * mu)
    return jnp.stack([lam, mu], axis=-1)


# --- stresses from JAX models -----------------------------------------------------------
# G = B u (displacement gradients at quadrature points) and f = B^T W P (internal forces of a
# per-point stress) are adjoint linear maps, so each one's VJP is the other: exact and cheap.


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def displacement_gradient(problem: Problem, u):
    """grad u at quadrature points, (n_qp, dim, dim); F = I + grad u feeds a constitutive model."""
    return _gradient_forward(problem, u)


def _gradient_forward(problem, u):
    n_qp, dim = problem.disc.quadrature_points.shape
    run = _host(lambda u: displacement_gradients(problem.disc, u))
    shape = jax.ShapeDtypeStruct((n_qp, dim, dim), jnp.result_type(u))
    return _callback(functools.partial(run, dtype=jnp.result_type(u)), shape, u)


def _gradient_bwd(problem, _, g_bar):
    weights = jnp.asarray(problem.disc.quadrature_weights)[:, None, None]
    return (stress_divergence(problem, g_bar / weights),)


displacement_gradient.defvjp(lambda problem, u: (_gradient_forward(problem, u), None), _gradient_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def stress_divergence(problem: Problem, stress):
    """Nodal internal forces of a first Piola-Kirchhoff stress given per quadrature point, (n_qp, dim, dim)."""
    return _divergence_forward(problem, stress)


def _divergence_forward(problem, stress):
    run = _host(lambda stress: assemble_stress_divergence(problem.disc, stress))
    shape = jax.ShapeDtypeStruct(problem.shape, jnp.result_type(stress))
    return _callback(functools.partial(run, dtype=jnp.result_type(stress)), shape, stress)


def _divergence_bwd(problem, _, f_bar):
    weights = jnp.asarray(problem.disc.quadrature_weights)[:, None, None]
    return (weights * displacement_gradient(problem, f_bar),)


stress_divergence.defvjp(lambda problem, stress: (_divergence_forward(problem, stress), None), _divergence_bwd)
