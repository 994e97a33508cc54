"""File formats and pictures: meshes in (meshio), VTU frames + PVD series out, rendering (pyvista)."""

from learnsim.io.meshes import read_mesh
from learnsim.io.render import render
from learnsim.io.vtu import FrameSeries, read_frame, read_pvd, write_pvd

__all__ = ["FrameSeries", "read_frame", "read_mesh", "read_pvd", "render", "write_pvd"]
