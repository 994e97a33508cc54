"""Scene families -> datasets: sampling, engine hooks, and parallel generation with dask."""

import functools
import pickle
import shutil

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from learnsim.core.errors import InputError
from learnsim.core.expression import Expression
from learnsim.engine.fem import Conduction, box_mesh, discretize, make_dirichlet
from learnsim.engine.fem.assembly import assemble_diffusion, assemble_linear_elasticity, assemble_source
from learnsim.engine.fem.statics import solve_linear_static
from learnsim.engine.integrate import State, make_body, step
from learnsim.io.datasets import open_dataset
from learnsim.running.generate import family_systems, generate_dataset, scene_systems
from learnsim.scenes.loader import SceneFamily, apply_overrides
from learnsim.scenes.sampling import GenerateSpec, ObstacleSpec

SCENE = {
    "scene": {"name": "tiny_obstacles", "kind": "diffusion", "dim": 2},
    "mesh": {"generator": "box", "size": [1.0, 1.0], "cells": [6, 6], "element": "quad", "order": 1},
    "material": {"conductivity": 1.0},
    "bc": [
        {"type": "fixed", "region": "x < 1e-9", "value": 0.0},
        {"type": "fixed", "region": "x > 1 - 1e-9", "value": 1.0},
    ],
    "solver": {"preconditioner": "ic0", "tol": 1e-12},
    "generate": {
        "bc.1.value": {"uniform": [0.5, 2.0]},
        "mesh.cells": {"choice": [[6, 6], [8, 8]]},
        "obstacles": {"count": [1, 3], "size": [0.1, 0.3], "conductivity": 1e-3, "modes": 2, "amplitude": 0.5},
    },
}
FAMILY = functools.partial(scene_systems, SceneFamily(SCENE, "<dict>"))


# --- sampling ---------------------------------------------------------------------------


def test_spec_samples_overrides_the_loader_reads():
    table = {
        "material.E": {"uniform": [1e3, 1e4]},
        "material.nu": {"normal": [0.3, 0.0]},
        "solver.tol": {"loguniform": [1e-10, 1e-6]},
        "mesh.cells": {"choice": [[32, 32], [64, 64]]},
        "solver.max_iters": {"integer": [10, 12]},
        "solver.preconditioner": {"choice": ["ic0", "amg"]},
        "scene.name": "fixed",
    }
    spec = GenerateSpec.from_table(table, "s.toml")
    rng = np.random.default_rng(0)
    for _ in range(20):
        data = apply_overrides({}, spec.sample(rng))
        assert 1e3 <= data["material"]["E"] <= 1e4 and data["material"]["nu"] == 0.3
        assert 1e-10 <= data["solver"]["tol"] <= 1e-6
        assert data["mesh"]["cells"] in ([32, 32], [64, 64])
        assert data["solver"]["max_iters"] in (10, 11, 12)
        assert data["solver"]["preconditioner"] in ("ic0", "amg") and data["scene"]["name"] == "fixed"
    values = spec.draw(np.random.default_rng(5))
    assert apply_overrides({}, spec.sample(np.random.default_rng(5)))["material"]["E"] == values["material.E"]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"material.E": {"gauss": [1, 2]}}, "[generate].\"material.E\": unknown distribution 'gauss'"),
        ({"material.E": {"uniform": [2, 1]}}, "uniform = [2.0, 1.0] has low above high"),
        ({"material.E": {"uniform": [1, 2, 3]}}, "uniform takes two numbers"),
        ({"material.E": {"loguniform": [0, 1]}}, "loguniform = [low, high] needs low > 0"),
        ({"material.E": {"uniform": [1, 2], "normal": [1, 2]}}, "expected one distribution"),
        ({"obstacles": {"cuont": [1, 2]}}, "[generate].\"obstacles\": unknown key 'cuont'"),
        ({"obstacles": {"shape": "star"}}, "'star' is not one of box, disc"),
    ],
)
def test_bad_generate_table_is_named(table, message):
    with pytest.raises(InputError) as err:
        GenerateSpec.from_table(table, "s.toml")
    assert str(err.value).startswith("s.toml: [generate].") and message in str(err.value)


@pytest.mark.parametrize("shape", ["box", "disc"])
def test_obstacle_expression(shape):
    """Without modes the field is exactly the background outside and the obstacle value inside."""
    spec = ObstacleSpec(count=(2, 2), size=(0.1, 0.2), conductivity=1e-3, background=2.0, shape=shape)
    text = spec.draw(np.random.default_rng(1))
    xy = np.random.default_rng(2).uniform(size=(20000, 2))
    k = Expression(text).evaluate(xy)
    assert set(np.unique(k)) == {1e-3, 2.0}
    inside = np.mean(k == 1e-3)  # two obstacles of half-width (radius) 0.1 to 0.2, clipped by the box
    assert 0.005 < inside < 0.6
    smooth = ObstacleSpec(count=(0, 0), modes=3, amplitude=1.0).draw(np.random.default_rng(3))
    k = Expression(smooth).evaluate(xy)
    assert np.all(k > 0) and 0.1 < np.std(np.log(k)) < 3.0


# --- engine hooks -----------------------------------------------------------------------


def _diffusion_problem(cells=(5, 4)):
    disc = discretize(box_mesh([1.0, 1.0], cells, "quad"), 1)
    k = 1.0 + disc.quadrature_points[:, 0]
    left = disc.node_positions[:, 0] < 1e-9
    bc = make_dirichlet(disc, [(left, None, np.array([1.0]))])
    return disc, k, bc


def test_static_hook_records_the_solved_system():
    disc, k, bc = _diffusion_problem()
    recorded = []
    load = assemble_source(disc, np.array([1.0]))
    result = solve_linear_static(disc, assemble_diffusion(disc, k), load, bc, "ic0", 1e-12, on_system=recorded.append)
    (system,) = recorded
    assert system.kind == "diffusion" and system.grid_shape == (6, 5) and system.n == 30
    reference = spla.spsolve(system.matrix.tocsc(), system.rhs)
    np.testing.assert_allclose(system.solution, reference, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(result.u, reference, rtol=1e-9, atol=1e-12)
    assert np.all(system.rhs[bc.mask[:, 0]] == 1.0)  # Dirichlet rows after projection: identity, b = g
    assert abs(system.matrix - system.matrix.T).max() < 1e-14


def test_elasticity_and_implicit_hooks():
    disc = discretize(box_mesh([2.0, 1.0], (4, 2), "quad"), 1, components=2)
    bc = make_dirichlet(disc, [(disc.node_positions[:, 0] < 1e-9, None, np.zeros(2))])
    lame = np.tile([1.0, 1.0], (disc.quadrature_points.shape[0], 1))
    recorded = []
    load = assemble_source(disc, np.array([0.0, -1.0]))
    solve_linear_static(
        disc, assemble_linear_elasticity(disc, lame), load, bc, "jacobi", 1e-12, on_system=recorded.append
    )
    (system,) = recorded
    assert system.kind == "fem-static" and system.grid_shape is None and system.n == disc.n_dofs
    np.testing.assert_allclose(system.solution, spla.spsolve(system.matrix.tocsc(), system.rhs), rtol=1e-8, atol=1e-12)

    disc, k, bc = _diffusion_problem((4, 4))
    body = make_body(disc, Conduction(), 1.0, bc, parameters=k, preconditioner="ic0", tol=1e-12)
    u0 = np.zeros(disc.n_nodes)
    state = State(u=u0, v=u0, a=u0)
    recorded = []
    new = step(body, state, 0.1, "implicit-euler", u0, u0, on_system=recorded.append)
    (system,) = recorded
    assert system.kind == "diffusion-implicit" and system.grid_shape == (5, 5)
    np.testing.assert_allclose(system.solution, spla.spsolve(system.matrix.tocsc(), system.rhs), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(new.u, system.solution, rtol=1e-12)


# --- generation -------------------------------------------------------------------------


def test_scene_family_records_parameters():
    systems = FAMILY(7)
    (system,) = systems
    p = system.parameters
    assert p["scene"] == "tiny_obstacles" and 0.5 <= p["bc.1.value"] <= 2.0
    assert system.grid_shape == tuple(c + 1 for c in p["mesh.cells"])
    right = np.isclose(system.rhs, p["bc.1.value"])
    assert right.sum() == system.grid_shape[1]  # the x = 1 column holds the sampled value
    np.testing.assert_allclose(system.solution, spla.spsolve(system.matrix.tocsc(), system.rhs), rtol=1e-8)
    assert (FAMILY(7)[0].matrix != system.matrix).nnz == 0  # same seed, same system


@pytest.fixture(scope="module")
def cluster():
    """One two-worker local cluster shared by the generation tests (it costs seconds to start)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        yield c.scheduler_address


def _contents(folder):
    return [(s.matrix, s.rhs, s.solution, s.parameters) for s in open_dataset(folder)]


def _same(a, b):
    assert len(a) == len(b)
    for (A1, b1, x1, p1), (A2, b2, x2, p2) in zip(a, b, strict=True):
        assert (A1 != A2).nnz == 0 and np.array_equal(b1, b2) and np.array_equal(x1, x2) and p1 == p2


@pytest.fixture(scope="module")
def two_workers(cluster, tmp_path_factory):
    """A 5-sample dataset generated on the shared two-worker cluster, shards of 2 samples."""
    out = tmp_path_factory.mktemp("generated") / "two"
    return generate_dataset(FAMILY, 5, out, shard_size=2, scheduler=cluster, progress=False, seed=3)


def test_generate_does_not_depend_on_worker_count(two_workers, tmp_path):
    one = generate_dataset(FAMILY, 5, tmp_path, shard_size=2, workers=0, progress=False, seed=3)  # in process
    a = _contents(two_workers)
    assert [p["sample"] for *_, p in a] == [0, 1, 2, 3, 4]
    assert len({p["material.conductivity"] for *_, p in a}) == 5  # samples differ
    _same(a, _contents(one))


@pytest.mark.slow
def test_generate_on_its_own_local_cluster(two_workers, tmp_path):
    """The default path: generate_dataset starts (and stops) a one-worker LocalCluster."""
    one = generate_dataset(FAMILY, 5, tmp_path, shard_size=2, workers=1, progress=False, seed=3)
    _same(_contents(two_workers), _contents(one))


def test_generate_resumes_without_redoing_finished_shards(two_workers, cluster, tmp_path):
    folder = shutil.copytree(two_workers, tmp_path / "copy")
    reference = _contents(folder)
    shards = sorted(folder.glob("samples_*.h5"))
    assert [s.name for s in shards] == [
        "samples_000000-000002.h5",
        "samples_000002-000004.h5",
        "samples_000004-000005.h5",
    ]
    before = {s.name: s.stat().st_mtime_ns for s in shards}
    shards[1].unlink()
    (folder / ".samples_000002-000004.h5.abc.partial").write_bytes(b"half a file")
    generate_dataset(FAMILY, 5, folder, shard_size=2, scheduler=cluster, progress=False, seed=3)
    after = {s.name: s.stat().st_mtime_ns for s in sorted(folder.glob("samples_*.h5"))}
    assert after.keys() == before.keys()
    assert [name for name in after if after[name] != before[name]] == ["samples_000002-000004.h5"]
    assert not list(folder.glob("*.partial"))
    _same(reference, _contents(folder))
    generate_dataset(FAMILY, 5, folder, shard_size=2, workers=0, progress=False, seed=4)  # another seed: all redone
    assert all(s.stat().st_mtime_ns != after[s.name] for s in folder.glob("samples_*.h5"))


def test_generate_reports_bad_input_from_workers(tmp_path, cluster):
    bad = dict(SCENE, generate={"material.conductivity": {"choice": [-1.0]}})
    with pytest.raises(InputError, match="conductivity"):
        generate_dataset(
            functools.partial(scene_systems, SceneFamily(bad, "<dict>")), 2, tmp_path, scheduler=cluster, progress=False
        )
    assert not (tmp_path / "manifest.json").exists()


TOML = """
[scene]
name = "file_family"
kind = "diffusion"
dim = 2
[mesh]
generator = "box"
size = [1.0, 1.0]
cells = [4, 4]
element = "quad"
[material]
conductivity = 1.0
[[bc]]
type = "fixed"
region = "x < 1e-9"
value = 1.0
[generate]
obstacles = {count = [1, 1], size = [0.2, 0.3], conductivity = 0.01, shape = "disc"}
"""


def test_scene_family_from_a_file(tmp_path):
    path = tmp_path / "family.toml"
    path.write_text(TOML)
    family = family_systems(path, overrides=["mesh.cells=[5, 5]"])
    (system,) = pickle.loads(pickle.dumps(family))(11)
    assert system.grid_shape == (6, 6) and "< 0.0" in system.parameters["material.conductivity"]
    path.write_text(TOML.replace("count = [1, 1]", "count = [2, 1]"))
    with pytest.raises(InputError, match='family.toml: \\[generate\\]."obstacles"'):
        family_systems(path)  # checked here, before any worker starts
