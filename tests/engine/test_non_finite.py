"""A law that returns NaN at some quadrature points stops the step with the element named: a JAX law whose
stress is NaN where |F - I| > 0.3, on a Q2 block 2 x 2 whose cell 3 alone is strained that much (its
centre node, which no other cell holds, displaced by 0.2 m in x)."""

import jax.numpy as jnp
import numpy as np
import pytest

from learnsim.core.errors import EngineError
from learnsim.core.mesh import box_mesh
from learnsim.engine.bridge.jax_law import JaxLaw
from learnsim.engine.fem.boundary import make_dirichlet
from learnsim.engine.fem.discretization import discretize
from learnsim.engine.fem.materials import lame_from_young_poisson
from learnsim.engine.fem.non_finite import describe_non_finite_force, non_finite_cells
from learnsim.engine.integrate import State, internal_force, make_body, step

LAM, MU = lame_from_young_poisson(100.0, 0.3)


def undefined_beyond_small_strain(F, params):
    """Saint Venant-Kirchhoff's P = F S, NaN where some |F_ij - delta_ij| > 0.3."""
    E = 0.5 * (F.T @ F - jnp.eye(F.shape[0]))
    P = F @ (params["lam"] * jnp.trace(E) * jnp.eye(F.shape[0]) + 2.0 * params["mu"] * E)
    return jnp.where(jnp.abs(F - jnp.eye(F.shape[0])).max() > 0.3, jnp.nan, P)


def _strained_block():
    disc = discretize(box_mesh([1.0, 1.0], [2, 2], "quad"), 2, components=2, device="cpu")
    bc = make_dirichlet(disc, [(disc.node_positions[:, 1] < 1e-9, None, np.zeros(2))])
    law = JaxLaw(undefined_beyond_small_strain, {"lam": LAM, "mu": MU})
    body = make_body(disc, law, 1.0, bc, "lumped", tol=1e-12)
    u = np.zeros((disc.n_nodes, 2))
    centre = np.flatnonzero(np.all(np.abs(disc.node_positions - [0.75, 0.75]) < 1e-9, axis=1))
    assert centre.size == 1
    u[centre, 0] = 0.2
    return body, u


def test_the_element_whose_law_returned_nan_is_found():
    body, u = _strained_block()
    force = internal_force(body, body.disc.nodal(u)).numpy()
    assert not np.isfinite(force).all()
    np.testing.assert_array_equal(non_finite_cells(body.disc, force), [3])
    message = describe_non_finite_force(body.disc, force)
    assert message == "the material law returned NaN in element 3 (centre [0.75, 0.75])"
    assert describe_non_finite_force(body.disc, np.zeros_like(force)) is None


@pytest.mark.parametrize("scheme", ["explicit", "newmark"])
def test_a_step_from_such_a_state_names_the_element(scheme):
    body, u = _strained_block()
    zero = np.zeros_like(u)
    with pytest.raises(EngineError, match=r"returned NaN in element 3 \(centre \[0.75, 0.75\]\)"):
        step(body, State(u=u, v=zero, a=zero, t=0.0), 1e-3, scheme, zero, zero)
