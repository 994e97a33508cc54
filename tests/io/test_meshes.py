"""read_mesh: meshio files of each element kind, second-order cells, and bad files."""

import meshio
import numpy as np
import pytest

from learnsim.core.errors import InputError
from learnsim.core.mesh import box_mesh
from learnsim.io import read_mesh

MESHIO_TYPE = {"tri": "triangle", "quad": "quad", "tet": "tetra", "hex": "hexahedron"}
BOXES = {
    "tri": ([2.0, 1.0], [4, 3]),
    "quad": ([2.0, 1.0], [4, 3]),
    "tet": ([1.0, 2.0, 1.5], [2, 3, 2]),
    "hex": ([1.0, 2.0, 1.5], [2, 3, 2]),
}


@pytest.mark.parametrize("suffix", [".vtu", ".vtk", ".msh"])
@pytest.mark.parametrize("element", BOXES)
def test_round_trip_each_element(tmp_path, element, suffix):
    mesh = box_mesh(*BOXES[element], element)
    path = tmp_path / f"m{suffix}"
    # gmsh 2.2 ASCII writes 17 significant digits, enough for float64 to round-trip exactly
    kwargs = {"file_format": "gmsh22", "binary": False} if suffix == ".msh" else {}
    meshio.write(path, meshio.Mesh(mesh.points, [(MESHIO_TYPE[element], mesh.cells)]), **kwargs)
    back = read_mesh(path)
    assert back.element == element
    assert back.points.shape == mesh.points.shape and back.points.dtype == np.float64
    assert back.cells.dtype == np.int32
    np.testing.assert_allclose(back.points, mesh.points, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(back.cells, mesh.cells)


def test_2d_mesh_with_zero_z_and_boundary_lines(tmp_path):
    mesh = box_mesh([1.0, 1.0], [3, 3], "tri")
    points = np.column_stack([mesh.points, np.zeros(mesh.n_points)])
    lines = np.array([[0, 1], [1, 2], [2, 3]])
    meshio.write(tmp_path / "m.vtu", meshio.Mesh(points, [("line", lines), ("triangle", mesh.cells)]))
    back = read_mesh(tmp_path / "m.vtu")
    assert (back.element, back.dim) == ("tri", 2)
    np.testing.assert_array_equal(back.points, mesh.points)
    np.testing.assert_array_equal(back.cells, mesh.cells)


def _tetra10(mesh):
    """The tet mesh as tetra10 (VTK edge order), mid-edge nodes stored BEFORE the corners."""
    edges = [(0, 1), (1, 2), (0, 2), (0, 3), (1, 3), (2, 3)]
    pairs = np.sort(np.concatenate([mesh.cells[:, e] for e in edges]), axis=1)
    unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
    mids = 0.5 * (mesh.points[unique[:, 0]] + mesh.points[unique[:, 1]])
    n_mid = mids.shape[0]
    mid_index = inverse.reshape(len(edges), mesh.n_cells).T
    cells = np.concatenate([mesh.cells + n_mid, mid_index], axis=1)
    return np.concatenate([mids, mesh.points]), cells


def test_second_order_tetra10_keeps_corners(tmp_path):
    mesh = box_mesh([1.0, 1.0, 1.0], [2, 2, 2], "tet")
    points, cells = _tetra10(mesh)
    # a boundary face block comes first, as gmsh writes it; it is ignored
    blocks = [("triangle6", cells[:1, [0, 1, 2, 4, 5, 6]]), ("tetra10", cells)]
    meshio.write(tmp_path / "p2.msh", meshio.Mesh(points, blocks), file_format="gmsh22", binary=False)
    back = read_mesh(tmp_path / "p2.msh")
    assert back.element == "tet"
    # mid-edge nodes are dropped and the corners re-indexed in file order
    np.testing.assert_array_equal(back.points, mesh.points)
    np.testing.assert_array_equal(back.cells, mesh.cells)


def test_second_order_quad9_and_several_blocks(tmp_path):
    """Two quad9 blocks (e.g. two gmsh physical groups) are joined into one quad mesh."""
    points = np.array([[x, y] for y in (0.0, 0.5, 1.0) for x in (0.0, 0.5, 1.0, 1.5, 2.0)])
    grid = np.arange(15).reshape(3, 5)

    def quad9(i):  # corners, mid-edges, centre (VTK order)
        c = grid[:, 2 * i : 2 * i + 3]
        return [c[0, 0], c[0, 2], c[2, 2], c[2, 0], c[0, 1], c[1, 2], c[2, 1], c[1, 0], c[1, 1]]

    meshio.write(tmp_path / "q.vtk", meshio.Mesh(points, [("quad9", [quad9(0)]), ("quad9", [quad9(1)])]))
    back = read_mesh(tmp_path / "q.vtk")
    assert (back.element, back.n_cells, back.n_points) == ("quad", 2, 6)
    np.testing.assert_array_equal(back.points[back.cells[1]], [[1, 0], [2, 0], [2, 1], [1, 1]])


def test_inverted_element_names_the_file(tmp_path):
    mesh = box_mesh([1.0, 1.0, 1.0], [2, 2, 2], "tet")
    cells = mesh.cells.copy()
    cells[5, [1, 2]] = cells[5, [2, 1]]
    path = tmp_path / "inverted.vtu"
    meshio.write(path, meshio.Mesh(mesh.points, [("tetra", cells)]))
    with pytest.raises(InputError, match=r"inverted\.vtu: inverted tet element 5"):
        read_mesh(path)


def test_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=f"^mesh file not found: {tmp_path}/nope.msh$"):
        read_mesh("nope.msh")


@pytest.mark.parametrize("name", ["garbage.msh", "garbage.vtu", "garbage.vtk"])
def test_garbage_file(tmp_path, capsys, name):
    path = tmp_path / name
    path.write_bytes(b"this is not a mesh\n\x00\x01\x02")
    with pytest.raises(InputError, match=f"{name}: cannot read mesh") as info:
        read_mesh(path)
    assert "\n" not in str(info.value)
    # meshio.read would print and sys.exit; nothing may reach the terminal
    assert capsys.readouterr() == ("", "")


def test_unknown_extension(tmp_path):
    (tmp_path / "m.foo").write_text("1 2 3")
    with pytest.raises(InputError, match=r"m\.foo: unknown mesh format '\.foo'"):
        read_mesh(tmp_path / "m.foo")


def test_mixed_and_unsupported_cells(tmp_path):
    tets, hexes = box_mesh([1, 1, 1], [1, 1, 1], "tet"), box_mesh([1, 1, 1], [1, 1, 1], "hex")
    meshio.write(tmp_path / "mixed.vtu", meshio.Mesh(tets.points, [("tetra", tets.cells), ("hexahedron", hexes.cells)]))
    with pytest.raises(InputError, match=r"mixed\.vtu: mixed meshes are not supported \(found hex and tet"):
        read_mesh(tmp_path / "mixed.vtu")
    wedge = [[0, 1, 2, 3, 4, 5]]
    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [0, 1, 1]], dtype=float)
    meshio.write(tmp_path / "wedge.vtu", meshio.Mesh(points, [("wedge", wedge)]))
    with pytest.raises(InputError, match="unsupported cell type wedge"):
        read_mesh(tmp_path / "wedge.vtu")
    meshio.write(tmp_path / "lines.vtu", meshio.Mesh(points, [("line", [[0, 1]])]))
    with pytest.raises(InputError, match="no 2D or 3D cells"):
        read_mesh(tmp_path / "lines.vtu")
