"""VTU frames + PVD collection: round trips through meshio and pyvista, atomicity, re-runs."""

import xml.etree.ElementTree as ET

import meshio
import numpy as np
import pytest

from learnsim.core.errors import InputError
from learnsim.core.mesh import box_mesh
from learnsim.io import FrameSeries, read_frame, read_pvd, write_pvd

TIMES = [0.0, 0.1 + 0.2, 1.0 / 3.0]  # values whose decimal form needs all 17 digits


def _frame_data(mesh, k):
    """Point vector and cell scalar fields that differ per frame and per entity."""
    displacement = (k + 1) * 1e-3 * np.sin(mesh.points * np.pi + k)
    von_mises = (k + 1) * 1e6 * mesh.cell_centroids().sum(axis=1) / 7.0
    return {"displacement": displacement}, {"von_mises": von_mises}


def _write_series(out, mesh, n_frames=3):
    with FrameSeries(out, mesh.points, mesh.cells, mesh.element) as series:
        for k in range(n_frames):
            point_data, cell_data = _frame_data(mesh, k)
            series.write_frame(TIMES[k], point_data, cell_data)
    return out / "result.pvd"


MESHES = {
    "quad2d": lambda: box_mesh([2.0, 1.0], [6, 3], "quad"),
    "tet3d": lambda: box_mesh([1, 1, 2], [2, 2, 3], "tet"),
}


@pytest.mark.parametrize("kind", MESHES)
def test_series_round_trip_meshio_and_pyvista(tmp_path, kind):
    pv = pytest.importorskip("pyvista")
    mesh = MESHES[kind]()
    pvd = _write_series(tmp_path / "out", mesh)

    entries = read_pvd(pvd)
    assert [t for t, _ in entries] == TIMES  # bit for bit
    assert [p.name for _, p in entries] == ["frame_00000.vtu", "frame_00001.vtu", "frame_00002.vtu"]
    points3 = np.column_stack([mesh.points, np.zeros((mesh.n_points, 3 - mesh.dim))])

    reader = pv.get_reader(str(pvd))
    assert reader.time_values == TIMES
    for k, (_, path) in enumerate(entries):
        point_data, cell_data = _frame_data(mesh, k)
        u3 = np.column_stack([point_data["displacement"], np.zeros((mesh.n_points, 3 - mesh.dim))])

        frame = read_frame(path)
        np.testing.assert_allclose(frame.points, points3, rtol=0, atol=1e-15)
        np.testing.assert_array_equal(frame.cells[0].data, mesh.cells)
        assert frame.point_data["displacement"].dtype == np.float64
        np.testing.assert_allclose(frame.point_data["displacement"], u3, rtol=0, atol=1e-15)
        np.testing.assert_allclose(frame.cell_data["von_mises"][0], cell_data["von_mises"], rtol=1e-15, atol=0)

        grid = pv.read(path)
        assert grid.n_cells == mesh.n_cells
        np.testing.assert_allclose(grid.points, points3, rtol=0, atol=1e-15)
        np.testing.assert_allclose(grid.point_data["displacement"], u3, rtol=0, atol=1e-15)
        np.testing.assert_allclose(grid.cell_data["von_mises"], cell_data["von_mises"], rtol=1e-15, atol=0)


def test_pvd_xml_lists_the_frames(tmp_path):
    pvd = _write_series(tmp_path / "out", MESHES["quad2d"]())
    root = ET.parse(pvd).getroot()
    assert (root.tag, root.get("type"), root.get("byte_order")) == ("VTKFile", "Collection", "LittleEndian")
    datasets = root.findall("Collection/DataSet")
    assert [d.get("file") for d in datasets] == [f"frames/frame_{k:05d}.vtu" for k in range(3)]
    assert [float(d.get("timestep")) for d in datasets] == TIMES
    assert all((pvd.parent / d.get("file")).is_file() for d in datasets)
    # nothing but the result is left next to it (no staging folder, no temporary file)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["frames", "result.pvd"]


def test_write_pvd_times_exact(tmp_path):
    times = [0.0, 1e-7, 0.1 + 0.2, 123456.789, 2.0**-40]
    write_pvd(tmp_path / "c.pvd", [(t, f"f{k}.vtu") for k, t in enumerate(times)])
    assert [t for t, _ in read_pvd(tmp_path / "c.pvd")] == times
    assert [p for _, p in read_pvd(tmp_path / "c.pvd")] == [tmp_path / f"f{k}.vtu" for k in range(5)]
    assert [p.name for p in tmp_path.iterdir()] == ["c.pvd"]


def test_exception_leaves_no_directory(tmp_path):
    mesh = MESHES["tet3d"]()
    out = tmp_path / "new" / "out"
    with pytest.raises(RuntimeError, match="solver blew up"):
        with FrameSeries(out, mesh.points, mesh.cells, mesh.element) as series:
            series.write_frame(0.0, *_frame_data(mesh, 0))
            raise RuntimeError("solver blew up")
    assert list(tmp_path.iterdir()) == []  # neither DIR nor the parent we created nor staging


def test_exception_keeps_previous_result(tmp_path):
    mesh = MESHES["quad2d"]()
    out = tmp_path / "out"
    pvd = _write_series(out, mesh)
    old_pvd = pvd.read_bytes()
    old_frames = {p.name: p.read_bytes() for p in (out / "frames").iterdir()}
    (out / "notes.txt").write_text("kept")
    with pytest.raises(KeyboardInterrupt):
        with FrameSeries(out, mesh.points, mesh.cells, mesh.element) as series:
            series.write_frame(5.0, *_frame_data(mesh, 2))
            raise KeyboardInterrupt
    assert pvd.read_bytes() == old_pvd
    assert {p.name: p.read_bytes() for p in (out / "frames").iterdir()} == old_frames
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (out / "notes.txt").read_text() == "kept"


def test_rerun_replaces_old_frames(tmp_path):
    mesh = MESHES["quad2d"]()
    out = tmp_path / "out"
    _write_series(out, mesh, n_frames=3)
    (out / "notes.txt").write_text("kept")
    pvd = _write_series(out, mesh, n_frames=1)
    assert [t for t, _ in read_pvd(pvd)] == TIMES[:1]
    assert sorted(p.name for p in (out / "frames").iterdir()) == ["frame_00000.vtu"]
    assert sorted(p.name for p in out.iterdir()) == ["frames", "notes.txt", "result.pvd"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_particle_series_with_moving_points(tmp_path):
    rng = np.random.default_rng(3)
    x0 = rng.random((50, 2))
    with FrameSeries(tmp_path / "sph", x0, None, "vertex") as series:
        series.write_frame(0.0, {"velocity": np.ones((50, 2)), "pressure": x0[:, 1]})
        x1 = x0[:40] + 0.01
        series.write_frame(0.01, {"velocity": np.ones((40, 2))}, points=x1)
    entries = read_pvd(tmp_path / "sph" / "result.pvd")
    last = read_frame(entries[-1][1])
    assert last.cells[0].type == "vertex"
    np.testing.assert_array_equal(last.cells[0].data.ravel(), np.arange(40))
    np.testing.assert_array_equal(last.points, np.column_stack([x1, np.zeros(40)]))
    np.testing.assert_array_equal(last.point_data["velocity"], np.column_stack([np.ones((40, 2)), np.zeros(40)]))


def test_2d_tensors_are_padded_to_3x3(tmp_path):
    mesh = box_mesh([1.0, 1.0], [2, 2], "tri")
    stress = np.arange(mesh.n_cells * 4, dtype=np.float64).reshape(-1, 2, 2)
    with FrameSeries(tmp_path / "out", mesh.points, mesh.cells, mesh.element) as series:
        path = series.write_frame(0.0, cell_data={"stress": stress})
    assert not path.exists()  # staged files move into DIR on exit
    frame = read_frame(tmp_path / "out" / "frames" / "frame_00000.vtu")
    padded = frame.cell_data["stress"][0].reshape(-1, 3, 3)
    np.testing.assert_array_equal(padded[:, :2, :2], stress)
    assert not padded[:, 2, :].any() and not padded[:, :, 2].any()


def test_bad_arrays_are_rejected(tmp_path):
    mesh = MESHES["quad2d"]()
    with pytest.raises(ValueError, match="point data 'u'"):
        with FrameSeries(tmp_path / "out", mesh.points, mesh.cells, mesh.element) as series:
            series.write_frame(0.0, {"u": np.zeros((3, 2))})
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="unknown element"):
        FrameSeries(tmp_path / "out", mesh.points, mesh.cells, "wedge")


def test_read_pvd_errors(tmp_path):
    with pytest.raises(InputError, match="pvd file not found"):
        read_pvd(tmp_path / "missing.pvd")
    (tmp_path / "bad.pvd").write_text("<VTKFile><Collection>")
    with pytest.raises(InputError, match="bad.pvd: not a valid .pvd file"):
        read_pvd(tmp_path / "bad.pvd")
    (tmp_path / "grid.pvd").write_text('<VTKFile type="UnstructuredGrid"/>')
    with pytest.raises(InputError, match="not a ParaView collection"):
        read_pvd(tmp_path / "grid.pvd")
    (tmp_path / "time.pvd").write_text(
        '<VTKFile type="Collection"><Collection><DataSet timestep="soon" file="a.vtu"/></Collection></VTKFile>'
    )
    with pytest.raises(InputError, match="timestep='soon'"):
        read_pvd(tmp_path / "time.pvd")
    with pytest.raises(InputError, match="frame file not found"):
        read_frame(tmp_path / "a.vtu")
    (tmp_path / "b.vtu").write_text("not xml")
    with pytest.raises(InputError, match="b.vtu: cannot read frame"):
        read_frame(tmp_path / "b.vtu")


def test_meshio_reads_frames_as_plain_vtu(tmp_path):
    """The files are standard VTK XML (binary, zlib), readable without learnsim."""
    pvd = _write_series(tmp_path / "out", MESHES["tet3d"](), n_frames=1)
    frame = meshio.read(pvd.parent / "frames" / "frame_00000.vtu")
    assert frame.cells[0].type == "tetra"
    assert b'compressor="vtkZLibDataCompressor"' in (pvd.parent / "frames" / "frame_00000.vtu").read_bytes()
