"""What every layer shares, free of Warp and JAX: errors, meshes, formulas, linear systems, the progress bar.

- :mod:`~learnsim.core.errors`: ``InputError`` (exit code 2), ``EngineError`` (exit code 1) and the
  solver failures;
- :mod:`~learnsim.core.mesh`: the ``Mesh`` value, its checks and the box generators;
- :mod:`~learnsim.core.expression`: ``Expression``, the safe formulas of x, y, z that scenes write
  and the running layer evaluates at nodes and quadrature points;
- :mod:`~learnsim.core.systems`: ``LinearSystem`` (what a solve records) and ``SolveResult``;
- :mod:`~learnsim.core.progress`: the progress bar of long work;
- :mod:`~learnsim.core.verbosity`: whether Warp may print (``learnsim.verbose()``);
- :mod:`~learnsim.core.lazy`: packages whose names load on first access (``learned``, ``io``).

Importing any of them loads NumPy and SciPy at most.
"""
