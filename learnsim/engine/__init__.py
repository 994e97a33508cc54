"""Warp engine: everything that runs per time step. Imports neither learnsim.learned nor learnsim.io."""
