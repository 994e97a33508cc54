"""Off-screen pictures of a result series with pyvista (the `learnsim render` command).

On a headless Linux machine VTK needs an off-screen OpenGL library: EGL (libegl1, with the
Mesa or NVIDIA driver) or OSMesa (libosmesa6). VTK 9.4+ wheels pick one at run time, trying
X first, and crash with a segmentation fault when none works; so we probe in a subprocess
once per process and, without a display, name the working window class explicitly (which also
avoids VTK's "bad X server connection" warning).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from learnsim.core.errors import EngineError, InputError
from learnsim.io.atomic import new_temp_file
from learnsim.io.vtu import read_frame, read_pvd

PREFERRED_FIELDS = ("von_mises", "displacement", "temperature", "pressure", "velocity")
"""fields coloured by default, first present wins"""

MISSING_OPENGL = (
    "off-screen rendering needs an OpenGL library: install libosmesa6 or libegl1 "
    "(Debian/Ubuntu: apt-get install libosmesa6 libegl1)"
)

_WINDOW_ENV = "VTK_DEFAULT_OPENGL_WINDOW"

# Renders a 4x4 red image and prints the window class that did it; run in a subprocess
# because VTK segfaults when no OpenGL library can be loaded.
_PROBE = """
import vtkmodules.vtkRenderingOpenGL2
from vtkmodules.vtkCommonCore import vtkUnsignedCharArray
from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow
window = vtkRenderWindow()
window.SetOffScreenRendering(1)
window.SetSize(4, 4)
renderer = vtkRenderer()
renderer.SetBackground(1.0, 0.0, 0.0)
window.AddRenderer(renderer)
window.Render()
pixels = vtkUnsignedCharArray()
window.GetPixelData(0, 0, 3, 3, 0, pixels, 0)
if (pixels.GetValue(0), pixels.GetValue(1), pixels.GetValue(2)) == (255, 0, 0):
    print(window.GetClassName())
"""


def _probe(window_class: str | None) -> str | None:
    """Class name of the render window VTK used for a tiny off-screen render, None on failure."""
    env = dict(os.environ)
    if window_class is not None:
        env[_WINDOW_ENV] = window_class
    try:
        result = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = result.stdout.split()
    return lines[-1] if result.returncode == 0 and lines else None


@functools.cache
def opengl_window_class() -> str | None:
    """The VTK render window class to request through VTK_DEFAULT_OPENGL_WINDOW.

    Returns None when VTK's own choice works and nothing needs setting (a display is
    available, the user set the variable, or not Linux).

    Raises:
        EngineError: no off-screen OpenGL library works; the message says what to install.
    """
    if not sys.platform.startswith("linux"):
        return None  # macOS and Windows always have an off-screen capable window
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    candidates: list[str | None] = [None] if has_display or _WINDOW_ENV in os.environ else []
    candidates += ["vtkEGLRenderWindow", "vtkOSOpenGLRenderWindow"]
    for candidate in candidates:
        used = _probe(candidate)
        if used is not None:
            return None if candidate is None else used
    raise EngineError(MISSING_OPENGL)


@contextmanager
def _opengl_window(window_class: str | None) -> Iterator[None]:
    """Set VTK_DEFAULT_OPENGL_WINDOW for the duration of one render only."""
    previous = os.environ.get(_WINDOW_ENV)
    if window_class is not None:
        os.environ[_WINDOW_ENV] = window_class
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(_WINDOW_ENV, None)
        else:
            os.environ[_WINDOW_ENV] = previous


def _pick_field(grid, field: str | None, source: Path) -> tuple[str, str] | None:
    """(name, "point" | "cell") of the array to colour by, None when the frame has none."""
    point, cell = list(grid.point_data.keys()), list(grid.cell_data.keys())
    if field is not None:
        if field in point:
            return field, "point"
        if field in cell:
            return field, "cell"
        available = ", ".join([f"{n} (point)" for n in point] + [f"{n} (cell)" for n in cell]) or "none"
        raise InputError(f"{source}: field '{field}' not in the last frame; available: {available}")
    for name in PREFERRED_FIELDS:
        if name in point:
            return name, "point"
        if name in cell:
            return name, "cell"
    if point:
        return point[0], "point"
    if cell:
        return cell[0], "cell"
    return None


def render(
    pvd_path: str | Path,
    out_png: str | Path,
    field: str | None = None,
    warp_scale: float | None = None,
    window_size: tuple[int, int] = (1024, 768),
) -> Path:
    """Draw the last frame of a result series into a PNG.

    Args:
        pvd_path: the series' result.pvd.
        out_png: image to write (atomically: temporary file, then os.replace); missing
            parent folders are created.
        field: point or cell array to colour by; vectors and tensors by their magnitude
            (Euclidean / Frobenius norm). Default: the first of PREFERRED_FIELDS present,
            else the first point array, else the first cell array.
        warp_scale: factor applied to the "displacement" point array to draw the deformed
            shape; default: the maximum displacement becomes 10% of the bounding-box diagonal.
        window_size: image (width, height) in pixels.

    Returns:
        The absolute path of the PNG.

    Raises:
        InputError: missing or invalid series, no frames, unknown field.
        EngineError: no off-screen OpenGL library is available.
    """
    import pyvista as pv  # heavy import, only when drawing

    pvd_path, out_png = Path(pvd_path).absolute(), Path(out_png).absolute()
    entries = read_pvd(pvd_path)
    if not entries:
        raise InputError(f"{pvd_path}: the collection has no frames")
    time, frame_path = entries[-1]
    grid = pv.from_meshio(read_frame(frame_path))
    picked = _pick_field(grid, field, pvd_path)
    window_class = opengl_window_class()

    title = f"t = {time:.6g}"
    if "displacement" in grid.point_data:
        displacement = np.asarray(grid.point_data["displacement"], dtype=np.float64).reshape(grid.n_points, -1)
        displacement = np.pad(displacement, ((0, 0), (0, 3 - displacement.shape[1])))[:, :3]
        max_displacement = float(np.linalg.norm(displacement, axis=1).max(initial=0.0))
        if warp_scale is None:
            size = grid.length  # bounding-box diagonal
            usable = np.isfinite(max_displacement) and max_displacement > 0 and size > 0
            warp_scale = 0.1 * size / max_displacement if usable else 1.0
        grid.point_data["_warp"] = displacement
        grid = grid.warp_by_vector("_warp", factor=warp_scale)
        title += f", displacement x {warp_scale:.3g}"

    scalars, bar_title, preference = None, None, "point"
    if picked is not None:
        name, preference = picked
        data = grid.point_data if preference == "point" else grid.cell_data
        values = np.asarray(data[name])
        if values.ndim > 1 and values.shape[1] > 1:
            bar_title = f"{name} magnitude"
            data[bar_title] = np.linalg.norm(values.reshape(values.shape[0], -1), axis=1)
        else:
            bar_title = name
        scalars = bar_title

    particles = grid.n_cells > 0 and bool(np.all(grid.celltypes == pv.CellType.VERTEX))
    flat = grid.bounds[5] - grid.bounds[4] <= 1e-12 * max(grid.length, 1e-300)
    style: dict = {"show_edges": True}
    if particles:
        # About one diameter per particle spacing on screen, so the cloud reads as a continuum.
        spacing_px = 0.6 * min(window_size) / max(grid.n_points, 1) ** (1 / (2 if flat else 3))
        style = {
            "style": "points",
            "render_points_as_spheres": True,
            "point_size": float(np.clip(spacing_px, 2.0, 20.0)),
        }

    out_png.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = new_temp_file(out_png, suffix=".png")  # pyvista picks the format from the suffix
    os.close(fd)
    try:
        with _opengl_window(window_class):
            plotter = pv.Plotter(off_screen=True, window_size=list(window_size), theme=pv.themes.DocumentTheme())
            try:
                plotter.add_mesh(
                    grid,
                    scalars=scalars,
                    preference=preference,
                    cmap="viridis",
                    show_scalar_bar=scalars is not None,
                    scalar_bar_args={"title": bar_title} if scalars is not None else None,
                    **style,
                )
                plotter.add_text(title, position="upper_edge", font_size=12)
                if flat:
                    plotter.view_xy()
                else:
                    plotter.view_isometric()
                plotter.screenshot(str(tmp), return_img=False)
            finally:
                plotter.close()
        os.replace(tmp, out_png)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_png
