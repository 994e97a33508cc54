"""The memory check: estimates against real counts, refusals before anything is allocated, long runs
that go ahead with flat memory and a progress bar showing their steps."""

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import meshio
import pytest

from learnsim.core.errors import InputError
from learnsim.core.mesh import box_mesh
from learnsim.engine.fem.assembly import assemble_diffusion, assemble_linear_elasticity
from learnsim.engine.fem.discretization import discretize
from learnsim.running.budget import available_memory, check_memory, estimate, format_bytes, parse_size
from learnsim.running.run import run_scene
from learnsim.scenes import builtin_scenes, load_scene

from ..cli_helpers import assert_one_error_line, run_cli

ROOT = Path(__file__).resolve().parents[2]


def _nonzeros(matrix) -> int:
    """Stored values of an assembled BSR matrix (``nnz`` is its capacity)."""
    block = matrix.block_shape[0] * matrix.block_shape[1]
    return int(matrix.offsets.numpy()[matrix.nrow]) * block


@pytest.mark.parametrize(
    ("scene", "cells", "element", "order"),
    [
        ("vibrating_beam", [3, 2], "quad", 1),
        ("vibrating_beam", [3, 2], "quad", 2),
        ("vibrating_beam", [3, 2], "tri", 1),
        ("vibrating_beam", [3, 2], "tri", 2),
        ("cantilever", [2, 3, 1], "hex", 1),
        ("cantilever", [2, 3, 1], "hex", 2),
        ("cantilever", [2, 3, 1], "tet", 1),
        ("cantilever", [2, 1, 2], "tet", 2),
    ],
)
def test_counts_are_those_of_the_discretisation(scene, cells, element, order):
    """dofs, quadrature points and the matrix's nonzeros (elasticity: no value vanishes) are exact."""
    scene = load_scene(scene, [f"mesh.cells={cells}", f"mesh.element={element}", f"mesh.order={order}"])
    counts = estimate(scene).counts
    mesh = box_mesh(scene.mesh.size, cells, element)
    disc = discretize(mesh, order, components=scene.dim, device="cpu")
    assert counts["dofs"] == disc.n_dofs
    assert counts["quadrature points"] == disc.quadrature_points.shape[0]
    assert counts["nonzeros"] == _nonzeros(assemble_linear_elasticity(disc, (1.0, 1.0)))


@pytest.mark.parametrize(("element", "order"), [("quad", 1), ("quad", 2), ("tri", 1), ("tri", 2)])
def test_diffusion_counts_bound_the_matrix(element, order):
    """On quads the pattern is exact; on right triangles the Laplacian has exact zeros that Warp drops."""
    scene = load_scene("heat_plate", ["mesh.cells=[4,3]", f"mesh.element={element}", f"mesh.order={order}"])
    counts = estimate(scene).counts
    disc = discretize(box_mesh([1.0, 1.0], [4, 3], element), order, device="cpu")
    measured = _nonzeros(assemble_diffusion(disc, 1.0))
    assert counts["dofs"] == disc.n_dofs
    assert (counts["nonzeros"] == measured) if element == "quad" else (measured <= counts["nonzeros"] < 1.5 * measured)


def test_a_mesh_file_is_counted_from_the_file(tmp_path):
    mesh = box_mesh([2.0, 1.0, 1.0], [6, 3, 3], "tet")
    meshio.write(tmp_path / "part.vtu", meshio.Mesh(mesh.points, [("tetra", mesh.cells)]))
    (tmp_path / "part.toml").write_text(
        '[scene]\nname = "part"\nkind = "diffusion"\ndim = 3\n[mesh]\nfile = "part.vtu"\n'
        '[[bc]]\ntype = "fixed"\nregion = "x < 1e-9"\n',
        encoding="utf-8",
    )
    scene = load_scene(tmp_path / "part.toml")
    counts = estimate(scene).counts
    disc = discretize(mesh, 1, device="cpu")
    assert counts["dofs"] == disc.n_dofs
    measured = _nonzeros(assemble_diffusion(disc, 1.0))
    assert 0.5 * measured < counts["nonzeros"] < 2.0 * measured  # edges from Euler's formula
    assert "[mesh].file" in estimate(scene).key


def _refused(tmp_path, capsys, scene, *extra) -> str:
    """Run ``learnsim run SCENE EXTRA``: exit 2 with one line, nothing written; the line."""
    out_dir = tmp_path / "results" / "out"
    code, out, err = run_cli(capsys, "run", scene, "--out", out_dir, *extra)
    line = assert_one_error_line(code, out, err, [])
    assert not (tmp_path / "results").exists()
    return line


def test_ten_billion_cells_are_refused_within_a_second(tmp_path, capsys):
    started = time.perf_counter()
    line = _refused(tmp_path, capsys, "heat_plate", "--set", "mesh.cells=[100000,100000]")
    assert time.perf_counter() - started < 1.0
    assert re.fullmatch(
        r"learnsim: error: heat_plate\.toml: \[mesh\]\.cells = \[100000, 100000\] needs about [\d.]+ TiB "
        r"\(1\.0e10 dofs, 9\.0e10 nonzeros, 4\.0e10 quadrature points, 1 frame\); this machine has "
        r"[\d.]+ [KMGT]iB available \(--max-memory raises the limit\)",
        line,
    ), line


def test_a_huge_integer_is_refused_like_any_other_size(tmp_path, capsys):
    line = _refused(tmp_path, capsys, "cantilever", "--set", "mesh.cells=[9223372036854775807,1,1]")
    assert "[mesh].cells = [9223372036854775807, 1, 1] needs about" in line
    assert "dofs" in line and "available (--max-memory raises the limit)" in line


@pytest.mark.parametrize(
    ("scene", "value", "words"),
    [
        ("cantilever", "mesh.cells=[100000,100000,100000]", ["EiB", "2.4e16 dofs"]),
        ("dam_break", "sph.spacing=1e-5", ["[sph].spacing = 1e-05", "2.0e10 fluid particles", "wall particles"]),
        ("dam_break_isph", "sph.spacing=1e-5", ["[sph].spacing = 1e-05", "nonzeros"]),
        ("heat_plate", "mesh.cells=[20000,20000]", ["[mesh].cells = [20000, 20000]", "4.0e8 dofs"]),
        ("cantilever", "mesh.cells=[1000,1000,1000]", ["[mesh].cells = [1000, 1000, 1000]", "TiB"]),
    ],
)
def test_scenes_of_the_issue_are_refused(tmp_path, capsys, scene, value, words):
    line = _refused(tmp_path, capsys, scene, "--set", value)
    for word in ["needs about", "available", *words]:
        assert word in line, line


def test_max_memory_sets_the_limit(tmp_path, capsys):
    # 3000 x 3000 cells grew past 5 GB before it was checked; its estimate is about 9 GiB
    line = _refused(tmp_path, capsys, "heat_plate", "--set", "mesh.cells=[3000,3000]", "--max-memory", "5G")
    assert "[mesh].cells = [3000, 3000] needs about" in line
    assert line.endswith("more than the limit of 5.0 GiB (--max-memory)"), line
    scene = load_scene("heat_plate", ["mesh.cells=[3000,3000]"])
    assert 4 * 2**30 < check_memory(scene, 64 * 2**30).bytes < 16 * 2**30  # allowed, not run

    code, _, err = run_cli(capsys, "run", "cantilever", "--out", tmp_path / "ok", "--max-memory", "64G")
    assert code == 0, err
    assert (tmp_path / "ok" / "result.pvd").is_file()


@pytest.mark.parametrize(
    ("text", "size"),
    [("64G", 64 * 2**30), ("500M", 500 * 2**20), ("2.5GiB", int(2.5 * 2**30)), ("1e9", 10**9), ("2 GB", 2 * 10**9),
     ("512k", 512 * 1024), ("1T", 2**40), ("750MiB", 750 * 2**20), ("4096", 4096)],
)  # fmt: skip
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["12Q", "-5G", "", "G", "0", "1.5.2G", "inf", "nanG", "1e400"])
def test_bad_sizes_are_one_line_errors(tmp_path, capsys, text):
    with pytest.raises(InputError, match="--max-memory"):
        parse_size(text)
    line = _refused(tmp_path, capsys, "cantilever", f"--max-memory={text}")
    assert f"--max-memory {text!r}: expected" in line


def test_every_builtin_scene_passes_the_check():
    for name, _ in builtin_scenes():
        scene = load_scene(name)
        for keep_frames in (True, False):
            need = check_memory(scene, keep_frames=keep_frames)
            assert 0 < need.bytes < 256 * 2**20, (name, format_bytes(need.bytes))
    assert available_memory() > 256 * 2**20


def test_frames_kept_in_memory_count_and_written_ones_do_not():
    scene = load_scene("vibrating_beam", ["time.steps=1000000000000"])
    written, kept = estimate(scene, keep_frames=False), estimate(scene, keep_frames=True)
    assert written.counts["frames"] == kept.counts["frames"] == 5 * 10**11 + 1
    assert written.bytes < 256 * 2**20 < 2**50 < kept.bytes
    assert kept.key == "[time].steps = 1000000000000 with [output].every = 2"
    with pytest.raises(InputError, match=r"\[time\]\.steps = 1000000000000 with \[output\]\.every = 2 needs"):
        check_memory(scene)  # run_scene without out_dir would keep them all


class _Stop(Exception):
    pass


def test_a_tiny_sph_step_starts_stepping():
    """A fluid at 1e6 m/s makes the CFL step about 2e-8 s: the run steps at once, with tens of millions to go."""
    scene = load_scene("dam_break", ["fluid.0.velocity=[1e6, 0.0]"])
    calls = []

    def progress(step, steps, t):
        calls.append((step, steps))
        if step == 3:
            raise _Stop

    started = time.perf_counter()
    with pytest.raises(_Stop):
        run_scene(scene, device="cpu", progress=progress)
    assert time.perf_counter() - started < 30.0
    assert [c[0] for c in calls] == [1, 2, 3] and calls[-1][1] > 10**7


LONG_HEAT = """\
[scene]
name = "long_heat"
kind = "diffusion"
dim = 2

[mesh]
generator = "box"
size = [1.0, 1.0]
cells = [2, 2]
element = "quad"
order = 1

[[bc]]
type = "fixed"
region = "x < 1e-9"

[time]
dt = 1.0
steps = 1000000000000
integrator = "implicit-euler"

[solver]
preconditioner = "jacobi"

[output]
every = 1000
"""


def _rss_mib(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return None if match is None else int(match.group(1)) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads resident memory from /proc")
def test_a_trillion_steps_run_with_flat_memory_and_a_bar_that_shows_them(tmp_path):
    """`learnsim run` of 1e12 steps steps at once; its memory stays flat and its bar shows the total and an ETA.

    A frame every 1000 steps: a set of the frame indices built up front would hold 1e9 integers.
    """
    (tmp_path / "long_heat.toml").write_text(LONG_HEAT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "200"}
    env["NO_COLOR"] = "1"
    command = [sys.executable, "-m", "learnsim.cli", "run", "long_heat.toml", "--out", "out"]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: process.stdout.read1(4096), b"")))
    reader.start()
    samples, stepping_since = [], None
    try:
        deadline = time.monotonic() + 120.0
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
            rss = _rss_mib(process.pid)
            assert rss is not None and rss < 2048, f"resident memory {rss} MiB"  # stop a regression early
            if stepping_since is None and b"/1000000000000" in b"".join(chunks):
                stepping_since = time.monotonic()
            elif stepping_since is not None:
                samples.append(rss)
                if time.monotonic() - stepping_since > 5.0:
                    break
    finally:
        process.kill()
        _, err = process.communicate(timeout=30)
        reader.join(timeout=30)
    assert stepping_since is not None, err.decode()
    assert len(samples) >= 15
    settled = samples[len(samples) // 3 :]
    assert max(settled) - min(settled) < 8.0, samples  # MiB
    text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"\n", b"".join(chunks)).decode()
    bars = re.findall(r"(\d+)/1000000000000 steps, t = \S+ s\s+(\S+)", text)
    assert bars, text[-2000:]
    done, eta = bars[-1]
    assert int(done) > 100
    assert re.fullmatch(r"\d+:\d\d:\d\d", eta), eta  # finite: hours:minutes:seconds, not -:--:--
    assert int(eta.split(":")[0]) > 24 * 365  # years of steps left
