"""Conversions between ``warp.sparse.BsrMatrix`` and ``scipy.sparse`` CSR, and scalar views of block vectors.

Warp stores a block system as a BSR matrix with ``(d, d)`` blocks acting on arrays of ``vec{d}d``;
scipy (and pyamg, and our IC(0) factorisation) see the same system as an ``(n d, n d)`` scalar CSR
matrix acting on ``n d`` floats, node-major (block row ``i`` holds scalar rows ``i d .. i d + d - 1``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import warp as wp
import warp.sparse as wps


def bsr_to_csr(A: wps.BsrMatrix) -> sp.csr_matrix:
    """Copy a Warp BSR/CSR matrix to the host as a scalar scipy CSR matrix.

    Args:
        A: a ``warp.sparse.BsrMatrix`` with scalar blocks or square ``(d, d)`` blocks, on any device.
            Padded (non-compact) matrices are compacted on a copy first; ``A`` is not modified.

    Returns:
        float64 CSR matrix of shape ``A.shape`` (scalar rows and columns), with sorted column indices
        and duplicates summed. Explicitly stored zeros are kept, so the sparsity pattern is that of ``A``.
    """
    if A.row_counts is not None:
        # Padded storage holds slack slots between rows; compact a copy so offsets are exact.
        A = wps.bsr_compress(A, prune_numerical_zeros=False)
    nnz = A.nnz_sync()
    offsets = A.offsets.numpy()[: A.nrow + 1].astype(np.int64)
    columns = A.columns.numpy()[:nnz].astype(np.int64)
    rows_per_block, cols_per_block = A.block_shape
    values = A.scalar_values.numpy()[:nnz].astype(np.float64)
    if (rows_per_block, cols_per_block) == (1, 1):
        csr = sp.csr_matrix((values.reshape(-1), columns, offsets), shape=A.shape)
    else:
        csr = sp.bsr_matrix((values, columns, offsets), shape=A.shape).tocsr()
    csr.sum_duplicates()
    return csr


def csr_to_bsr(csr: sp.spmatrix, block_size: int = 1, device: wp.DeviceLike = None) -> wps.BsrMatrix:
    """Upload a scipy sparse matrix as a float64 Warp BSR matrix.

    Args:
        csr: any scipy sparse matrix (or array) of shape ``(n_rows, n_cols)``; both must be multiples
            of ``block_size``.
        block_size: 1 for a scalar CSR matrix (block type ``float64``), ``d`` > 1 for ``(d, d)`` blocks
            (``mat22d``, ``mat33d``, ...) acting on ``vec{d}d`` arrays, scalar rows grouped node-major.
        device: Warp device for the result (default: the current default device).

    Returns:
        A compact BsrMatrix with ``n_rows // block_size`` block rows. Every block touched by a stored entry
        of ``csr`` is kept, zero-valued or not, so the pattern matches ``csr``.
    """
    if block_size < 1:
        raise ValueError(f"block_size must be positive, got {block_size}")
    n_rows, n_cols = csr.shape
    if n_rows % block_size or n_cols % block_size:
        raise ValueError(f"matrix shape {csr.shape} is not a multiple of block_size {block_size}")

    if block_size == 1:
        block_type = wp.float64
        mat = sp.csr_matrix(csr, dtype=np.float64)
        mat.sum_duplicates()
        values = mat.data
    else:
        block_type = wp.types.matrix(shape=(block_size, block_size), dtype=wp.float64)
        mat = sp.bsr_matrix(csr, blocksize=(block_size, block_size), dtype=np.float64)
        mat.sum_duplicates()
        values = mat.data
    rows = np.repeat(np.arange(mat.shape[0] // block_size, dtype=np.int32), np.diff(mat.indptr))

    A = wps.bsr_zeros(n_rows // block_size, n_cols // block_size, block_type=block_type, device=device)
    if rows.size:
        wps.bsr_set_from_triplets(
            A,
            wp.array(rows, dtype=wp.int32, device=device),
            wp.array(mat.indices.astype(np.int32), dtype=wp.int32, device=device),
            # (nnz,) scalars or (nnz, d, d) blocks: bsr_set_from_triplets accepts both as float64.
            wp.array(np.ascontiguousarray(values), dtype=wp.float64, device=device),
            prune_numerical_zeros=False,
        )
    return A


def scalar_view(x: wp.array) -> wp.array:
    """Zero-copy 1-D ``float64`` view of a contiguous ``float64``/``vec{d}d`` array.

    A ``vec3d`` array of shape ``(n,)`` becomes a ``float64`` array of shape ``(3 n,)`` sharing its memory,
    node-major; a scalar array is returned unchanged.
    """
    if wp.types.type_is_scalar(x.dtype):
        return x
    return x.view(wp.float64).flatten()
