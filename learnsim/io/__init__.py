"""File formats and pictures: meshes in (meshio), VTU frames + PVD series out, datasets of linear systems
(HDF5), rendering (pyvista), plots (matplotlib). Warp-free.

- :mod:`~learnsim.io.meshes`: ``read_mesh`` (any format meshio reads);
- :mod:`~learnsim.io.vtu`: ``FrameSeries``, ``write_pvd``, ``read_pvd``, ``read_frame``;
- :mod:`~learnsim.io.datasets`: the ``learnsim-systems`` dataset format (``open_dataset``, ``write_shard``);
- :mod:`~learnsim.io.render`: ``render``, off-screen pictures of a result (import it from there);
- :mod:`~learnsim.io.plots`, :mod:`~learnsim.io.atomic`: residual plots; files written atomically.

The names below are imported on first access: ``import learnsim.io.datasets`` loads h5py, not
meshio, and nothing loads pyvista until a picture is drawn.
"""

from learnsim.core.lazy import lazy_exports

_HOMES = {
    "read_mesh": "meshes",
    "FrameSeries": "vtu",
    "read_frame": "vtu",
    "read_pvd": "vtu",
    "write_pvd": "vtu",
    "open_dataset": "datasets",
}
__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
