"""SPH scenes (kind = "sph"): checks, the command line, frames read back, and S2 through a scene file."""

import copy
import math
import re
import tomllib
from importlib import resources

import numpy as np
import pytest

from learnsim.core.errors import EngineError, InputError
from learnsim.io import read_frame, read_pvd
from learnsim.running.particles import lattice, tank
from learnsim.running.sph import run_sph
from learnsim.scenes import Box, FluidSpec, Scene, SceneInfo, SPHSpec, TimeSpec, WallSpec, load_scene
from learnsim.scenes.loader import scene_from_dict, scene_to_dict

from ..cli_helpers import assert_one_error_line, run_cli

G, RHO = 9.81, 1000.0
SPH_BUILTINS = ["dam_break", "dam_break_3d", "hydrostatic_tank", "poiseuille"]


def _builtin(name: str) -> dict:
    text = resources.files("learnsim.scenes").joinpath("builtin", f"{name}.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


# case -> (built-in scene, --set overrides, words the one stderr line must contain)
BAD_INPUT = {
    "fluid_outside_domain": (
        "poiseuille",
        ["fluid.0.box={lower = [0.0, 0.0], upper = [0.5, 1.0]}"],
        ["poiseuille.toml", "[[fluid]][0]", "outside [sph].domain", "upper = [0.26666"],
    ),
    "spacing_larger_than_box": (
        "hydrostatic_tank",
        ["sph.spacing=1.5"],
        ["hydrostatic_tank.toml", "[[fluid]][0].box", "less than [sph].spacing = 1.5"],
    ),
    "negative_viscosity": (
        "dam_break",
        ["sph.viscosity=-1e-6"],
        ["dam_break.toml", "[sph].viscosity = -1e-06", "must not be negative"],
    ),
    "dt_above_stable_limit": (
        "hydrostatic_tank",
        ["time.dt=0.01"],
        ["hydrostatic_tank.toml", "[time].dt = 0.01 s", "above the stable limit 0.000423 s"],
    ),
    "unknown_key": (
        "dam_break",
        ["sph.viscousity=0.001"],
        ["dam_break.toml", "[sph].viscousity = 0.001", "not a known key", "did you mean 'viscosity'?"],
    ),
    "unknown_scheme": (
        "dam_break",
        ["sph.scheme=pcisph"],
        ["dam_break.toml", '[sph].scheme = "pcisph"', "expected one of wcsph, isph"],
    ),
    "fem_table_in_sph": (
        "dam_break",
        ["material.E=1000"],
        ["dam_break.toml", "[material]", 'not used by kind = "sph"'],
    ),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(case, tmp_path, capsys):
    scene, overrides, words = BAD_INPUT[case]
    out_dir = tmp_path / "results" / "out"
    extra = [arg for o in overrides for arg in ("--set", o)]

    assert_one_error_line(*run_cli(capsys, "run", scene, "--out", out_dir, *extra), words)
    assert list(tmp_path.iterdir()) == []  # no output folder, no staging folder


# (dotted key, value or DELETE, message) applied to the dam_break dict: checks without running
DELETE = object()
BAD_KEYS = [
    ("sph.periodic", [True, False], "[sph].periodic = [true, false] needs [sph].domain"),
    ("sph.gravity", [0.0, 0.0], "[sph].sound_speed is required when [sph].gravity is zero"),
    ("sph.gravity", [0.0, -9.81, 0.0], "[sph].gravity = [0.0, -9.81, 0.0]: expected 2 numbers"),
    ("sph.kernel", "gauss", '[sph].kernel = "gauss": expected one of cubic, wendland, quintic'),
    ("sph.spacing", DELETE, "[sph].spacing is required"),
    ("sph.gamma", 0.5, "[sph].gamma = 0.5 must be at least 1"),
    ("fluid", DELETE, "[[fluid]] is missing"),
    ("fluid.0.box", {"lower": [0.0, 0.0]}, "[[fluid]][0].box = {lower = [0.0, 0.0]}: expected a table"),
    ("fluid.0.box", {"lower": [0.0, 0.0], "upper": [1.0, -1.0]}, "must have upper > lower along y"),
    ("fluid.0.velocity", [1.0], "[[fluid]][0].velocity = [1.0]: expected 2 numbers or formulas"),
    ("wall.0.kind", "pipe", '[[wall]][0].kind = "pipe": expected one of block, tank'),
    ("wall.0.layers", 0, "[[wall]][0].layers = 0 must be positive"),
    ("time", DELETE, '[time] is missing (kind = "sph" needs [time].end, s)'),
    ("time.steps", 10, '[time].steps = 10 is not used by kind = "sph"'),
    ("time.integrator", "newmark", '[time].integrator = "newmark" is not used by kind = "sph"'),
    ("time.dt", 2.0, "[time].dt = 2.0 is longer than [time].end = 0.92 s"),
    ("output.every", 2, '[output].every = 2 is not used by kind = "sph" (use frames'),
    ("output.fields", ["temperature"], '"temperature" is not a field for sph (use velocity, pressure, density)'),
    ("output.walls", "yes", '[output].walls = "yes": expected true or false'),
    ("solver.preconditioner", "amg", '[solver].preconditioner = "amg" is only used with [sph].scheme = "isph"'),
    ("mesh", {"generator": "box"}, '[mesh] is not used by kind = "sph"'),
    ("sph.scheme", "isph", '[sph].artificial_viscosity = 0.1 is only used with scheme = "wcsph"'),
]


@pytest.mark.parametrize("key, value, message", BAD_KEYS, ids=[f"{k}={v}" for k, v, _ in BAD_KEYS])
def test_bad_keys_are_named(key, value, message):
    data = copy.deepcopy(_builtin("dam_break"))
    *path, last = key.split(".")
    node = data
    for part in path:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    if value is DELETE:
        del node[int(last) if last.isdigit() else last]
    else:
        node[int(last) if last.isdigit() else last] = value
    with pytest.raises(InputError, match=re.escape(message)):
        scene_from_dict(data, source="dam.toml")


def test_fem_scene_rejects_sph_tables():
    with pytest.raises(InputError, match=re.escape('[sph] is only for kind = "sph"')):
        load_scene("cantilever", ["sph.spacing=0.1"])


@pytest.mark.parametrize("name", SPH_BUILTINS)
def test_scene_to_dict_round_trip(name):
    scene = load_scene(name)
    assert scene.kind == "sph"
    assert scene_from_dict(scene_to_dict(scene), source=scene.source) == scene


def test_defaults_and_python_scene():
    """Built in Python: defaults filled in, the sound speed 10 sqrt(2 g H) from the fluid height."""
    scene = Scene(
        scene=SceneInfo(name="dam", kind="sph", dim=2),
        sph=SPHSpec(spacing=0.05),
        fluids=(FluidSpec(box={"lower": [0.0, 0.0], "upper": [1.0, 2.0]}),),
        walls=(WallSpec(kind="tank", box=Box((0.0, 0.0), (4.0, 3.0))),),
        time=TimeSpec(end=0.5),
    )
    sph = scene.sph
    assert sph.sound_speed == pytest.approx(10.0 * math.sqrt(2.0 * G * 2.0), rel=1e-14)
    assert (sph.gravity, sph.gamma, sph.density_diffusion, sph.artificial_viscosity) == ((0.0, -9.81), 7.0, 0.1, 0.0)
    assert scene.walls[0].layers == 3  # Wendland support 2 h = 3 dx
    assert scene.fluids[0].box == Box((0.0, 0.0), (1.0, 2.0))
    assert (scene.output.fields, scene.output.frames, scene.output.walls) == (
        ("velocity", "pressure", "density"),
        20,
        False,
    )


def test_lattice_and_tank_layout():
    """Cell-centred lattice; a tank leaves exactly one spacing between its walls and a fluid box of the same corner."""
    dx = 0.25
    fluid = lattice(Box((0.0, 0.0), (1.0, 0.5)), dx)
    assert fluid.shape == (8, 2)
    np.testing.assert_allclose(fluid[:2], [[0.125, 0.125], [0.125, 0.375]])
    walls = tank(Box((0.0, 0.0), (1.0, 0.5)), dx, layers=2)
    assert len(walls) == (4 + 4) * (2 + 2) - 4 * 2
    gaps = np.min(np.linalg.norm(fluid[:, None] - walls[None], axis=2), axis=1)
    assert gaps.min() == pytest.approx(dx, rel=1e-12)
    assert walls[:, 1].max() == pytest.approx(0.375)  # as high as the box, open on top


def test_hydrostatic_tank_bottom_pressure_s2(tmp_path, capsys):
    """S2 through the CLI, shortened (10 x 10 particles, gravity ramped over 0.3 s, held 0.3 s).

    The last frame's pressures, read back from the VTU: the linear fit p(y) extrapolated to the
    bottom y = 0 within 2% of rho g H, and the bottom row within 2% (of rho g H) of rho g (H - y)
    at its particles.
    """
    out_dir = tmp_path / "tank"
    overrides = ["sph.spacing=0.1", "time.end=0.6", "sph.gravity_ramp=0.3", "output.frames=2"]
    code, out, err = run_cli(
        capsys, "run", "hydrostatic_tank", "--out", out_dir, *[a for o in overrides for a in ("--set", o)]
    )
    assert code == 0, err
    entries = read_pvd(out_dir / "result.pvd")
    assert [t for t, _ in entries] == pytest.approx([0.0, 0.3, 0.6], abs=1e-15)
    frame = read_frame(entries[-1][1])
    fluid = frame.point_data["wall"] == 0
    assert fluid.sum() == 100
    y, p = frame.points[fluid, 1], frame.point_data["pressure"][fluid]
    height, scale = 1.0, RHO * G * 1.0
    bottom_fit = np.polyval(np.polyfit(y, p, 1), 0.0)
    bottom = y < 0.1
    row_error = abs(p[bottom].mean() - RHO * G * (height - y[bottom]).mean()) / scale
    print(f"S2 scene: p(0) fit {bottom_fit:.1f} Pa vs {scale:.1f} Pa; bottom row error {row_error:.2e}")
    assert abs(bottom_fit - scale) / scale < 0.02
    assert row_error < 0.02
    speed = np.linalg.norm(frame.point_data["velocity"][fluid], axis=1).max()
    assert speed < 1e-2 * math.sqrt(G * height)


def test_dam_break_frames_and_render(tmp_path, capsys):
    """dam_break shortened: 10 x 20 fluid particles for 0.05 s; every frame has the fields and the particles."""
    out_dir = tmp_path / "dam"
    overrides = ["sph.spacing=0.1", "time.end=0.05", "output.frames=2"]
    code, _, err = run_cli(capsys, "run", "dam_break", "--out", out_dir, *[a for o in overrides for a in ("--set", o)])
    assert code == 0, err
    entries = read_pvd(out_dir / "result.pvd")
    assert [t for t, _ in entries] == pytest.approx([0.0, 0.025, 0.05], abs=1e-15)
    n_wall = (60 + 6) * (30 + 3) - 60 * 30  # a 6 x 3 m tank at dx = 0.1 with 3 layers, inside removed
    for t, path in entries:
        frame = read_frame(path)
        assert set(frame.point_data) == {"velocity", "pressure", "density", "wall"}
        assert frame.points.shape == (200 + n_wall, 3)
        assert frame.point_data["velocity"].shape == (200 + n_wall, 3)
        fluid = frame.point_data["wall"] == 0
        assert fluid.sum() == 200 and np.all(fluid[:200])
        if t == 0.0:
            np.testing.assert_allclose(frame.points[:200, :2], lattice(Box((0.0, 0.0), (1.0, 2.0)), 0.1))
            assert np.all(frame.point_data["velocity"][fluid] == 0.0)
            assert np.all(frame.point_data["density"][fluid] == RHO)
    # early collapse: the top of the column falls freely, v = -g t (within 5%)
    velocity = read_frame(entries[-1][1]).point_data["velocity"][:200]
    assert velocity[:, 1].min() == pytest.approx(-G * 0.05, rel=0.05)

    png = tmp_path / "dam.png"
    try:
        code, out, err = run_cli(capsys, "render", out_dir / "result.pvd", "--out", png)
    except EngineError as err:  # pragma: no cover - a machine without off-screen OpenGL
        pytest.skip(str(err))
    if code == 1 and "OpenGL" in err:
        pytest.skip(err)
    assert code == 0, err
    assert png.stat().st_size > 1000


def test_fixed_dt_and_frames_in_memory():
    """A fixed dt below the limit: every step is dt (frames land on multiples of it), frames kept in memory."""
    scene = load_scene(
        "hydrostatic_tank",
        ["sph.spacing=0.1", "time.end=0.004", "time.dt=0.0005", "output.frames=2", "output.walls=false"],
    )
    result = run_sph(scene, device="cpu")
    assert result.steps == 8
    assert result.dt_min == result.dt_max == 0.0005
    assert [f.time for f in result.frames] == [0.0, 0.002, 0.004]
    assert set(result.point_data) == {"velocity", "pressure", "density"}
    assert result.frames[-1].points.shape == (100, 2)


def test_isph_hydrostatic_scene():
    """scheme = "isph" runs the same tank (the [solver] preconditioner reaches the pressure solve).

    ISPH sets p = 0 on the free-surface particles, dx / 2 below the surface (see
    tests/engine/sph/test_isph.py), so the bottom pressure is rho g (H - dx / 2); within 2%.
    """
    pytest.importorskip("learnsim.engine.sph.isph")
    data = _builtin("hydrostatic_tank")
    for key in ("artificial_viscosity", "density_diffusion"):
        del data["sph"][key]
    data["sph"].update(scheme="isph", spacing=0.1, gravity_ramp=0.2)
    data["time"]["end"] = 0.4
    data["output"].update(frames=1, walls=False)
    data["solver"] = {"preconditioner": "jacobi"}
    scene = scene_from_dict(data, source="isph_tank.toml")
    assert (scene.solver.preconditioner, scene.solver.tol) == ("jacobi", 1e-8)
    result = run_sph(scene, device="cpu")
    assert result.params.preconditioner == "jacobi"
    y = result.frames[-1].points[:, 1]
    p = result.point_data["pressure"]
    bottom_fit = np.polyval(np.polyfit(y, p, 1), 0.0)
    reference = RHO * G * (1.0 - 0.05)
    print(f"ISPH scene: {result.steps} steps, p(0) fit {bottom_fit:.1f} Pa vs {reference:.1f} Pa")
    assert abs(bottom_fit - reference) / (RHO * G) < 0.02


def poiseuille_exact(y, t, F=1000.0, nu=100.0, L=1.0):
    """Start-up Poiseuille flow from rest (Morris, Fox and Zhu 1997), series to 100 terms."""
    u = F / (2.0 * nu) * y * (L - y)
    for n in range(100):
        k = 2 * n + 1
        decay = np.exp(-(k**2) * np.pi**2 * nu * t / L**2)
        u -= 4.0 * F * L**2 / (nu * np.pi**3 * k**3) * np.sin(k * np.pi * y / L) * decay
    return u


def test_poiseuille_start_up_s3():
    """S3, the built-in periodic channel shortened to t = 5e-4 (360 steps): atol 1e-2 u_max."""
    result = run_sph(load_scene("poiseuille", ["time.end=5e-4", "output.frames=1"]), device="cpu")
    frame = result.frames[-1]
    error = np.max(np.abs(frame.point_data["velocity"][:, 0] - poiseuille_exact(frame.points[:, 1], 5e-4))) / 1.25
    print(f"S3 scene: max |u - u_exact| / u_max = {error:.2e} after {result.steps} steps")
    assert result.steps == 360
    assert error < 1e-2
    assert np.max(np.abs(frame.point_data["velocity"][:, 1])) < 1e-3 * 1.25
