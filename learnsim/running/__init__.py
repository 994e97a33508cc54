"""The application layer: runs checked scenes on the engine and writes their results.

- :mod:`~learnsim.running.run`: ``run_scene`` (static, time-dependent and SPH scenes) and
  ``write_result``; :mod:`~learnsim.running.dynamics` steps FEM rollouts,
  :mod:`~learnsim.running.sph` particle fluids, :mod:`~learnsim.running.particles` lays the
  particles out;
- :mod:`~learnsim.running.models`: trained models named ``learned:PATH`` as the engine's preconditioners;
- :mod:`~learnsim.running.generate`: the linear systems of a scene family, fanned out on dask;
- :mod:`~learnsim.running.evaluate`: learned and classical solvers compared on a dataset.
"""

from learnsim.running.run import RunResult, run_scene, write_result
from learnsim.running.sph import SPHResult

__all__ = ["RunResult", "SPHResult", "run_scene", "write_result"]
