"""render: off-screen PNGs of the last frame of a series (needs an off-screen OpenGL library)."""

import importlib

import numpy as np
import pytest

from learnsim.core.errors import EngineError, InputError
from learnsim.core.mesh import box_mesh
from learnsim.io import FrameSeries
from learnsim.io.render import render

# the module, not the function of the same name that learnsim.io re-exports
render_module = importlib.import_module("learnsim.io.render")

pytest.importorskip("pyvista")
Image = pytest.importorskip("PIL.Image")

SIZE = (480, 360)


@pytest.fixture(scope="module")
def offscreen():
    try:
        render_module.opengl_window_class()
    except EngineError as err:
        pytest.skip(str(err))


@pytest.fixture
def beam(tmp_path):
    """A cantilever-like tet beam: bending displacement and a von Mises-like cell field."""
    mesh = box_mesh([4.0, 1.0, 1.0], [8, 2, 2], "tet")
    x = mesh.points
    with FrameSeries(tmp_path / "beam", mesh.points, mesh.cells, mesh.element) as series:
        for k in range(3):
            u = np.zeros_like(x)
            u[:, 2] = -1e-3 * k * x[:, 0] ** 2
            von_mises = 1e6 * (4.0 - mesh.cell_centroids()[:, 0]) * (1 + k)
            series.write_frame(0.1 * k, {"displacement": u}, {"von_mises": von_mises})
    return tmp_path / "beam" / "result.pvd"


def _pixels(path):
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape == (SIZE[1], SIZE[0], 3)
    return image


def _n_colours(image):
    return np.unique(image.reshape(-1, 3), axis=0).shape[0]


def test_render_elasticity_frame(offscreen, beam, tmp_path, capfd):
    out = render(beam, tmp_path / "pics" / "beam.png", window_size=SIZE)
    assert capfd.readouterr() == ("", "")  # no VTK warnings (e.g. about a missing X server)
    assert out == tmp_path / "pics" / "beam.png" and out.stat().st_size > 0
    image = _pixels(out)
    assert _n_colours(image) > 50  # colour map, shading, edges, text
    assert sorted(p.name for p in out.parent.iterdir()) == ["beam.png"]  # no temporary file left

    # the deformed shape is drawn: without the warp the picture changes
    flat = _pixels(render(beam, tmp_path / "flat.png", warp_scale=0.0, window_size=SIZE))
    assert np.mean(np.any(flat != image, axis=2)) > 0.01


def test_render_particles(offscreen, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((400, 3)) * [1.0, 1.0, 0.5]
    with FrameSeries(tmp_path / "sph", x, None, "vertex") as series:
        series.write_frame(0.0, {"velocity": rng.normal(size=(400, 3)), "pressure": 1e3 * x[:, 2]})
    out = render(tmp_path / "sph" / "result.pvd", tmp_path / "sph.png", field="velocity", window_size=SIZE)
    image = _pixels(out)
    assert _n_colours(image) > 50
    background = image[0, 0]
    assert np.mean(np.any(image != background, axis=2)) > 0.05  # the spheres cover part of the picture


def test_render_2d_quads(offscreen, tmp_path):
    mesh = box_mesh([2.0, 1.0], [8, 4], "quad")
    with FrameSeries(tmp_path / "q", mesh.points, mesh.cells, mesh.element) as series:
        series.write_frame(1.0, {"temperature": 300 + 10 * mesh.points[:, 0]})
    image = _pixels(render(tmp_path / "q" / "result.pvd", tmp_path / "q.png", window_size=SIZE))
    assert _n_colours(image) > 20


def test_unknown_field_lists_arrays(beam, tmp_path):
    with pytest.raises(
        InputError,
        match=r"field 'stress' not in the last frame; available: displacement \(point\), "
        r"von_mises \(cell\)",
    ):
        render(beam, tmp_path / "x.png", field="stress")
    assert not (tmp_path / "x.png").exists()


def test_default_field_choice(beam):
    pv = pytest.importorskip("pyvista")
    grid = pv.read(beam.parent / "frames" / "frame_00002.vtu")
    assert render_module._pick_field(grid, None, beam) == ("von_mises", "cell")
    del grid.cell_data["von_mises"]
    assert render_module._pick_field(grid, None, beam) == ("displacement", "point")
    grid.point_data["aaa"] = np.zeros(grid.n_points)
    del grid.point_data["displacement"]
    assert render_module._pick_field(grid, None, beam) == ("aaa", "point")


def test_missing_opengl_is_an_engine_error(monkeypatch, beam, tmp_path):
    monkeypatch.setattr(render_module, "_probe", lambda window_class: None)
    render_module.opengl_window_class.cache_clear()
    try:
        with pytest.raises(EngineError, match=r"^off-screen rendering needs an OpenGL library: install libosmesa6"):
            render(beam, tmp_path / "x.png")
    finally:
        render_module.opengl_window_class.cache_clear()
    assert not (tmp_path / "x.png").exists()


def test_missing_series(tmp_path):
    with pytest.raises(InputError, match="pvd file not found"):
        render(tmp_path / "none" / "result.pvd", tmp_path / "x.png")
