"""Tangent matrices of finite-strain laws, tabulated once per quadrature point.

A bilinear integrand is evaluated for every pair of test and trial basis functions at every point:
written directly, the tangent ``stress_delta(F, grad du) : grad v`` would rebuild F, its inverse and
ln J for each of those (64 pairs per point for a Q1 hex, 729 for Q2). Here F is evaluated once per
point, the law's ``stress_delta`` once per point and direction (``d^2`` of them) into a table
``C[q] = dP/dF`` of shape ``(d^2, d^2)``, and the pairs only contract it
(:func:`~learnsim.engine.fem.forms.tabulated_tangent_form`). The matrix is the same (to rounding).

This module must not use ``from __future__ import annotations``: the kernel's annotations name its
closure's types, which Warp resolves at definition.
"""

import functools

import warp as wp
import warp.fem as fem
from warp.sparse import BsrMatrix

from learnsim.engine.fem import forms
from learnsim.engine.fem.assembly import make_field
from learnsim.engine.fem.discretization import Discretization


@wp.func
def _unit(like: wp.mat22d, k: int, m: int):
    """The matrix with a 1 at (k, m)."""
    one, zero = wp.float64(1.0), wp.float64(0.0)
    return wp.mat22d(
        wp.where(k == 0 and m == 0, one, zero), wp.where(k == 0 and m == 1, one, zero),
        wp.where(k == 1 and m == 0, one, zero), wp.where(k == 1 and m == 1, one, zero),
    )  # fmt: skip


@wp.func
def _unit(like: wp.mat33d, k: int, m: int):  # noqa: F811 (Warp overload)
    one, zero = wp.float64(1.0), wp.float64(0.0)
    return wp.mat33d(
        wp.where(k == 0 and m == 0, one, zero), wp.where(k == 0 and m == 1, one, zero),
        wp.where(k == 0 and m == 2, one, zero), wp.where(k == 1 and m == 0, one, zero),
        wp.where(k == 1 and m == 1, one, zero), wp.where(k == 1 and m == 2, one, zero),
        wp.where(k == 2 and m == 0, one, zero), wp.where(k == 2 and m == 1, one, zero),
        wp.where(k == 2 and m == 2, one, zero),
    )  # fmt: skip


@functools.cache
def _table_kernel(stress_delta, matrix, parameter_dtype, dim: int):
    """A kernel over (point, direction km): C[q, i d + j, km] = stress_delta(I + H[q], e_k e_m^T, p_q)[i, j]."""

    def tangent_table(
        H: wp.array(dtype=matrix),
        params: wp.array(dtype=parameter_dtype),
        C: wp.array3d(dtype=wp.float64),
    ):
        q, km = wp.tid()
        grad = H[q]
        F = grad + wp.identity(n=dim, dtype=wp.float64)
        dP = stress_delta(F, _unit(grad, km // dim, km % dim), params[q])
        for i in range(dim):
            for j in range(dim):
                C[q, i * dim + j, km] = dP[i, j]

    tangent_table.__name__ = tangent_table.__qualname__ = f"{stress_delta.key}_tangent_table_{dim}d"
    return wp.kernel(tangent_table)


def tabulated_tangent(
    disc: Discretization, u: wp.array, parameters: wp.array, stress_delta, parameter_dtype
) -> BsrMatrix:
    """d f_int / d u at u for a law given by ``stress_delta(F, dF, p)``, assembled from per-point tables."""
    dim = disc.dim
    matrix = wp.mat22d if dim == 2 else wp.mat33d
    n_qp = disc.quadrature.total_point_count()
    H = wp.empty(n_qp, dtype=matrix, device=disc.device)
    fem.interpolate(forms.field_gradient, dest=H, at=disc.quadrature, fields={"u": make_field(disc, u)})
    C = wp.empty((n_qp, dim * dim, dim * dim), dtype=wp.float64, device=disc.device)
    kernel = _table_kernel(stress_delta, matrix, parameter_dtype, dim)
    wp.launch(kernel, dim=(n_qp, dim * dim), inputs=[H, parameters], outputs=[C], device=disc.device)
    fields = {"u": fem.make_trial(disc.space, domain=disc.cells), "v": fem.make_test(disc.space, domain=disc.cells)}
    return fem.integrate(forms.tabulated_tangent_form, quadrature=disc.quadrature, fields=fields,
                         values={"tangents": C}, output_dtype=wp.float64)  # fmt: skip
