"""Time-dependent scenes end to end: `learnsim run` on [time] scenes, their frames, and their bad input."""

import math
from pathlib import Path

import meshio
import numpy as np
import pytest

from learnsim.cli import main
from learnsim.core.errors import InputError
from learnsim.io import read_pvd
from learnsim.running.dynamics import TimedLoad, external_load, ramp_factor
from learnsim.running.run import run_scene, write_result
from learnsim.scenes import load_scene, scene_from_dict

from .cli_helpers import assert_one_error_line, run_cli

# A 2 x 1 block held in x at x = 0 only: in y it moves freely, so under gravity it falls as a rigid body.
# (3 cells, not 2: Discretization.per_point reads a constant (lambda, mu) as per-cell values on a 2-cell mesh.)
FALLING = {
    "scene": {"name": "falling", "kind": "elasticity", "dim": 2},
    "mesh": {"generator": "box", "size": [2.0, 1.0], "cells": [3, 1], "element": "quad", "order": 2},
    "material": {"E": 100.0, "nu": 0.3, "density": 2.0},
    "bc": [{"type": "fixed", "region": "x < 1e-9", "components": ["x"]}],
    "load": [{"type": "gravity", "value": [0.0, -9.81]}],
    "time": {"dt": 0.05, "steps": 8},
    "solver": {"preconditioner": "jacobi", "tol": 1e-14},
}

NEO_HOOKEAN_TOML = """\
[scene]
name = "block"
kind = "elasticity"
dim = 2

[mesh]
generator = "box"
size = [1.0, 1.0]
cells = [2, 2]
element = "quad"

[material]
model = "neo-hookean"
E = 100.0
nu = 0.3

[[bc]]
type = "fixed"
region = "x < 1e-9"

[initial]
velocity = [0.0, "3 * x"]

[time]
dt = 0.05
steps = 4

[solver]
newton_max_iters = 1
"""


@pytest.fixture(scope="module")
def beam_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("beam") / "out"
    assert main(["run", "vibrating_beam", "--out", str(out), "--set", "time.steps=20"]) == 0
    return out / "result.pvd"


def test_vibrating_beam_writes_a_frame_every_two_steps(beam_run):
    """20 steps of dt = 0.15 s, every = 2: frames at steps 0, 2, ..., 20, that is t = 0, 0.3, ..., 3 s."""
    entries = read_pvd(beam_run)
    times = np.array([t for t, _ in entries])
    assert len(entries) == 11
    np.testing.assert_allclose(times, 0.3 * np.arange(11), rtol=1e-14, atol=1e-15)
    assert np.all(np.diff(times) > 0)
    assert [f.name for _, f in entries] == [f"frame_{k:05d}.vtu" for k in range(11)]

    first, last = meshio.read(entries[0][1]), meshio.read(entries[-1][1])
    n_points = first.points.shape[0]
    assert n_points == 17 * 3  # vertices of the 16 x 2 quads
    for frame in (first, last):
        assert frame.point_data["displacement"].shape == frame.point_data["velocity"].shape == (n_points, 3)
        assert frame.cell_data["von_mises"][0].shape == (32,)
    x = first.points[:, 0]
    # the initial state: at rest in the reference shape, moving with v_y = 0.1 (x / 4)^2
    np.testing.assert_array_equal(first.point_data["displacement"], 0.0)
    np.testing.assert_allclose(first.point_data["velocity"][:, 1], 0.1 * (x / 4) ** 2, rtol=1e-14)
    np.testing.assert_array_equal(first.cell_data["von_mises"][0], 0.0)
    # a quarter period in (1.5 s) the tip is near its highest; half a period in (3 s, T/2 = 3.01 s) it is
    # back through zero (2% of that height), moving down; the root stays clamped throughout
    quarter = meshio.read(entries[5][1])
    at_tip = x == 4.0
    height = quarter.point_data["displacement"][at_tip, 1]
    assert np.all(height > 0.05)
    assert np.all(np.abs(last.point_data["displacement"][at_tip, 1]) < 0.02 * height)
    assert np.all(last.point_data["velocity"][at_tip, 1] < -0.05)
    for frame in (quarter, last):
        np.testing.assert_array_equal(frame.point_data["displacement"][x == 0.0], 0.0)
        np.testing.assert_array_equal(frame.point_data["velocity"][x == 0.0], 0.0)


def test_the_last_step_is_written_when_every_does_not_divide_steps(tmp_path):
    scene = load_scene("vibrating_beam", ["time.steps=5", 'output.fields=["displacement"]'])
    result = run_scene(scene, device="cpu", out_dir=tmp_path / "out")
    np.testing.assert_allclose(result.frame_times, [0.0, 0.3, 0.6, 0.75], rtol=1e-14)
    assert [t for t, _ in read_pvd(result.pvd)] == result.frame_times
    frame = meshio.read(read_pvd(result.pvd)[-1][1])
    assert sorted(frame.point_data) == ["displacement"] and not frame.cell_data
    # Newmark keeps the energy (kinetic + stored) of free vibration, here 0.002 J
    energy = np.array([sum(e) for e in result.energies])
    assert energy[0] == pytest.approx(0.002, rel=1e-12)
    np.testing.assert_allclose(energy, energy[0], rtol=1e-8)


def test_gravity_free_fall_is_exact(tmp_path):
    """A body free in y falls as u_y = -g t^2 / 2 (Newmark integrates constant accelerations exactly),
    whatever its density (gravity loads rho g, the mass is rho)."""
    steps = []
    result = run_scene(scene_from_dict(FALLING), device="cpu", progress=lambda k, n, t: steps.append((k, n, t)))
    assert steps == [(k, 8, pytest.approx(0.05 * k, rel=1e-15)) for k in range(1, 9)]
    assert len(result.frames) == 9 and result.pvd is None  # held in memory: no out_dir
    for frame in result.frames:
        u, v = frame.point_data["displacement"], frame.point_data["velocity"]
        np.testing.assert_allclose(u[:, 1], -9.81 * frame.time**2 / 2, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(v[:, 1], -9.81 * frame.time, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(u[:, 0], 0.0, atol=1e-12)
        np.testing.assert_allclose(frame.cell_data["von_mises"], 0.0, atol=1e-8)
    pvd = write_result(result, tmp_path / "out")
    assert [t for t, _ in read_pvd(pvd)] == result.frame_times


def test_explicit_first_step_takes_the_gravity_acceleration():
    """With a lumped mass, M^-1 (rho g) = g at every free node: after one symplectic Euler step v = g dt."""
    data = {**FALLING, "time": {"dt": 0.01, "steps": 1, "integrator": "explicit"}}
    result = run_scene(scene_from_dict(data), device="cpu")
    assert result.dt_limit is not None and 0.01 < result.dt_limit
    v = result.frames[-1].point_data["velocity"]
    np.testing.assert_allclose(v[:, 1], -9.81 * 0.01, rtol=1e-12)


def test_initial_displacement_keeps_the_dirichlet_values():
    data = {
        **FALLING,
        "load": [],
        "bc": [{"type": "fixed", "region": "x < 1e-9"}],
        "initial": {"displacement": ["0.01 * x", 0.0]},
        "time": {"dt": 0.05, "steps": 1},
    }
    result = run_scene(scene_from_dict(data), device="cpu")
    x = result.mesh.points[:, 0]
    u0 = result.frames[0].point_data["displacement"]
    np.testing.assert_allclose(u0[:, 0], 0.01 * x, rtol=1e-14)  # zero on the clamp anyway
    np.testing.assert_array_equal(u0[:, 1], 0.0)
    np.testing.assert_array_equal(result.frames[0].point_data["velocity"], 0.0)
    # a prescribed value wins over the initial field: clamp at 0.01 * x while x > 0 starts at rest
    data = {**data, "initial": {"displacement": [0.01, 0.0]}}
    u0 = run_scene(scene_from_dict(data), device="cpu").frames[0].point_data["displacement"]
    np.testing.assert_array_equal(u0[x == 0.0, 0], 0.0)
    np.testing.assert_array_equal(u0[x > 0.0, 0], 0.01)


def test_heat_transient_warms_up_towards_the_plate_solution():
    """The first 0.1 s of heat_transient: the hot edge is at 1 K from the first frame on, and the plate warms up
    without overshoot (implicit Euler is monotone here): every temperature stays in [0, 1] and rises in time."""
    result = run_scene(load_scene("heat_transient", ["time.end=0.1"]), device="cpu")
    assert len(result.frames) == 3 and result.energies == []
    temperatures = np.array([f.point_data["temperature"] for f in result.frames])
    assert temperatures.shape == (3, 33 * 33)  # the unit square's 33 x 33 vertices
    hot = np.isclose(temperatures[0], 1.0)
    assert hot.sum() == 33  # the right edge
    assert np.all(temperatures >= -1e-12) and np.all(temperatures <= 1 + 1e-12)
    assert np.all(np.diff(temperatures, axis=0) >= -1e-12)
    assert temperatures[-1].mean() > temperatures[1].mean() > temperatures[0].mean()


def test_ramps():
    assert ramp_factor("constant", None, 5.0) == 1.0
    assert [ramp_factor("linear", 2.0, t) for t in (0.0, 0.5, 2.0, 3.0)] == [0.0, 0.25, 1.0, 1.0]
    assert [ramp_factor("smooth", 2.0, t) for t in (0.0, 1.0, 2.0, 5.0)] == [0.0, 0.5, 1.0, 1.0]
    assert ramp_factor("smooth", 2.0, 0.5) == pytest.approx(3 * 0.25**2 - 2 * 0.25**3, rel=1e-15)
    assert ramp_factor("sine", 2.0, 0.5) == pytest.approx(1.0, rel=1e-15)
    assert ramp_factor("sine", 2.0, 1.5) == pytest.approx(-1.0, rel=1e-15)
    loads = [TimedLoad(np.ones(3), "linear", 2.0), TimedLoad(np.full(3, 2.0), "sine", 4.0)]
    np.testing.assert_allclose(external_load(loads, 1.0, np.zeros(3)), 0.5 + 2.0 * math.sin(math.pi / 2))


def test_a_smooth_ramp_starts_from_rest():
    """A tip load ramped smoothly over the whole run: zero load and zero acceleration at t = 0."""
    data = {
        **FALLING,
        "bc": [{"type": "fixed", "region": "x < 1e-9"}],
        "load": [{"type": "traction", "region": "x > 2 - 1e-9", "value": [0.0, -1.0], "ramp": "smooth"}],
        "time": {"dt": 0.05, "steps": 4},
    }
    scene = scene_from_dict(data)
    assert scene.loads[0].ramp_time == pytest.approx(0.2, rel=1e-15)
    frames = run_scene(scene, device="cpu").frames
    tip = [np.abs(f.point_data["displacement"]).max() for f in frames]
    assert tip[0] == 0.0 and np.all(np.diff(tip) > 0)


# ---- bad input: exit 2, one line, nothing written ------------------------------------------------

BAD_INPUT = {
    "steps_and_end": (["--set", "time.end=3"], ["vibrating_beam.toml", "[time] has both steps and end"]),
    "negative_dt": (["--set", "time.dt=-0.1"], ["vibrating_beam.toml", "[time].dt = -0.1 must be positive"]),
    "unknown_integrator": (
        ["--set", "time.integrator=rk4"],
        ['[time].integrator = "rk4": expected one of explicit, implicit-euler, newmark'],
    ),
    "explicit_above_limit": (
        ["--set", "time.integrator=explicit", "--set", "time.dt=0.01"],
        ["vibrating_beam.toml", "[time].dt = 0.01 s is above the explicit stability limit 0.00245 s", "lumped"],
    ),
    "sine_without_period": (
        [
            "--set",
            "load.0.type=traction",
            "--set",
            "load.0.region=x > 4 - 1e-9",
            "--set",
            "load.0.value=[0, 1]",
            "--set",
            "load.0.ramp=sine",
        ],  # fmt: skip
        ['[[load]][0].ramp_time is required with ramp = "sine"'],
    ),
    "initial_not_finite": (
        ["--set", 'initial.displacement=["log(x - 1)", 0]'],
        ['[initial].displacement = "log(x - 1)" is nan at', "finite at every node"],
    ),
    "time_not_a_table": (["--set", "time=0"], ["vibrating_beam.toml: time = 0: expected a table [time]"]),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_time_input_exits_2_and_writes_nothing(case, tmp_path, capsys):
    extra, words = BAD_INPUT[case]
    out_dir = tmp_path / "results" / "out"
    assert_one_error_line(*run_cli(capsys, "run", "vibrating_beam", "--out", out_dir, *extra), words)
    assert list(tmp_path.iterdir()) == []


def test_gravity_on_a_diffusion_scene_exits_2(tmp_path, capsys):
    extra = ["--set", "load.0.type=gravity", "--set", "load.0.value=[0, -9.81]"]
    code, out, err = run_cli(capsys, "run", "heat_transient", "--out", tmp_path / "out", *extra)
    assert (code, out) == (2, "")
    assert err.strip() == (
        'learnsim: error: heat_transient.toml: [[load]][0].type = "gravity" is only for elasticity '
        "(use body for a heat source)"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_engine_failure_mid_run_exits_1_and_writes_nothing(tmp_path, capsys):
    """Newton limited to one iteration cannot reach a relative residual of 1e-14 on a neo-Hookean block,
    not even with the step cut to dt/16: the run stops at the first step, naming it and the smallest cut,
    and the frames already computed are not published."""
    path = tmp_path / "block.toml"
    path.write_text(NEO_HOOKEAN_TOML + "newton_tol = 1e-14\n")  # [solver] is the last table
    code, _, err = run_cli(capsys, "run", path, "--out", tmp_path / "out")
    assert code == 1, err
    assert "step 1 (t = 0.05 s): implicit step: Newton did not converge" in err and "after 1 iterations" in err
    assert "cut down to dt = 0.003125 s still fails" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["block.toml"]


def test_a_neo_hookean_scene_steps_with_newton(tmp_path):
    path = tmp_path / "block.toml"
    path.write_text(NEO_HOOKEAN_TOML.replace("newton_max_iters = 1", "newton_max_iters = 20"))
    result = run_scene(load_scene(path), device="cpu", out_dir=tmp_path / "out")
    assert result.stats.steps == 4 and 4 * 2 <= result.stats.newton_iterations <= 4 * 8
    energy = np.array([sum(e) for e in result.energies])
    np.testing.assert_allclose(energy, energy[0], rtol=1e-2)
    assert len(read_pvd(result.pvd)) == 5


def test_write_result_refuses_frames_already_written(tmp_path):
    scene = load_scene("vibrating_beam", ["time.steps=1"])
    result = run_scene(scene, device="cpu", out_dir=tmp_path / "a")
    with pytest.raises(ValueError, match="written as it went"):
        write_result(result, tmp_path / "b")


def test_bad_input_from_python_is_an_input_error():
    with pytest.raises(InputError, match=r"\[time\].dt = 0.01 s is above the explicit stability limit"):
        run_scene(load_scene("vibrating_beam", ["time.integrator=explicit", "time.dt=0.01"]), device="cpu")
