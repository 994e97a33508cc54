"""Datasets of the linear systems a scene family solves, generated in parallel with dask.distributed.

Three pieces:

- :class:`GenerateSpec`: the ``[generate]`` table of a scene file, which declares how each
  sample differs. Keys are dotted scene paths, values are distributions (data only, never
  evaluated)::

      [generate]
      "material.conductivity" = {loguniform = [0.1, 10.0]}
      "mesh.cells" = {choice = [[32, 32], [64, 64]]}
      "bc.1.value" = {uniform = [0.5, 2.0]}
      obstacles = {count = [1, 4], size = [0.05, 0.2], conductivity = 1e-3, modes = 4, amplitude = 1.0}

  Distributions: ``uniform = [low, high]``, ``loguniform = [low, high]`` (low > 0),
  ``normal = [mean, std]``, ``integer = [low, high]`` (both included), ``choice = [a, b, ...]``;
  a plain value is fixed. ``obstacles`` writes a conductivity expression (see
  :class:`ObstacleSpec`) to ``material.conductivity``.
- :func:`generate_dataset`: runs ``make_systems(seed)`` for every sample on a dask cluster;
  each task writes one shard of samples itself, the manifest is written last, and a run that
  was interrupted resumes without redoing finished shards.
- :func:`scene_family`: the ``make_systems`` of a scene file with a ``[generate]`` table.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import tomllib
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from learnsim.core.errors import InputError
from learnsim.core.progress import ProgressBar
from learnsim.core.systems import LinearSystem
from learnsim.io.datasets import write_manifest, write_shard
from learnsim.scenes.loader import apply_overrides, scene_from_dict

DISTRIBUTIONS = ("uniform", "loguniform", "normal", "integer", "choice")
OBSTACLE_KEYS = ("count", "size", "conductivity", "background", "box", "shape", "modes", "amplitude", "key")


# --- sampling ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Distribution:
    """One sampled scene value: ``kind`` in DISTRIBUTIONS (or "fixed") with its arguments."""

    kind: str
    args: tuple

    def draw(self, rng: np.random.Generator) -> Any:
        a = self.args
        if self.kind == "fixed":
            return a[0]
        if self.kind == "uniform":
            return float(rng.uniform(a[0], a[1]))
        if self.kind == "loguniform":
            return float(np.exp(rng.uniform(np.log(a[0]), np.log(a[1]))))
        if self.kind == "normal":
            return float(rng.normal(a[0], a[1]))
        if self.kind == "integer":
            return int(rng.integers(a[0], a[1], endpoint=True))
        return a[int(rng.integers(len(a)))]


@dataclass(frozen=True)
class ObstacleSpec:
    """Random conductivity: a smooth log-normal background with ``count`` obstacles in it.

    k(x) = background * exp(sum of ``modes`` random cosines of total amplitude ``amplitude``)
    outside the obstacles and ``conductivity`` inside them. Obstacles are axis-aligned boxes
    (half-widths) or discs (radii) of a size drawn uniformly in ``size`` (m), centred uniformly
    in ``box`` (one (low, high) pair per axis; its length sets the dimension).
    """

    count: tuple[int, int] = (1, 4)
    size: tuple[float, float] = (0.05, 0.2)
    conductivity: float = 1e-3
    background: float = 1.0
    box: tuple[tuple[float, float], ...] = ((0.0, 1.0), (0.0, 1.0))
    shape: str = "box"
    modes: int = 0
    amplitude: float = 0.0
    key: str = "material.conductivity"

    def draw(self, rng: np.random.Generator) -> str:
        """A conductivity expression in the scene expression language (x, y, z in m)."""
        axes = "xyz"[: len(self.box)]
        terms = []
        for _ in range(self.modes):
            waves = rng.integers(1, self.modes + 1, size=len(axes)) * rng.choice([-1, 1], size=len(axes))
            phase = " + ".join(
                f"{2 * math.pi * k / (hi - lo):.6g} * {a}" for k, a, (lo, hi) in zip(waves, axes, self.box, strict=True)
            )
            weight = self.amplitude * rng.standard_normal() / math.sqrt(self.modes)
            terms.append(f"{weight:.6g} * cos({phase} + {rng.uniform(0, 2 * math.pi):.6g})")
        background = f"{self.background:.6g}" + (f" * exp({' + '.join(terms)})" if terms else "")
        parts = []
        for _ in range(int(rng.integers(self.count[0], self.count[1], endpoint=True))):
            centre = [rng.uniform(lo, hi) for lo, hi in self.box]
            if self.shape == "disc":
                r = rng.uniform(*self.size)
                squares = " + ".join(f"({a} - {c:.6g})**2" for a, c in zip(axes, centre, strict=True))
                parts.append(f"({squares} < {r * r:.6g})")
            else:
                half = rng.uniform(*self.size, size=len(axes))
                sides = " and ".join(
                    f"abs({a} - {c:.6g}) < {h:.6g}" for a, c, h in zip(axes, centre, half, strict=True)
                )
                parts.append(f"({sides})")
        if not parts:
            return background
        inside = " or ".join(parts)
        return f"({background}) * (1 - ({inside})) + {self.conductivity:.6g} * ({inside})"


@dataclass(frozen=True)
class GenerateSpec:
    """How the samples of a scene family differ: dotted scene key -> distribution."""

    parameters: tuple[tuple[str, Distribution], ...] = ()
    obstacles: ObstacleSpec | None = None

    @classmethod
    def from_table(cls, table: dict, source: str = "<dict>") -> GenerateSpec:
        """Parse a ``[generate]`` table; InputError (naming ``source`` and the key) on a bad entry."""
        if not isinstance(table, dict):
            raise InputError(f"{source}: [generate] must be a table")
        parameters, obstacles = [], None
        for key, value in table.items():
            where = f"{source}: [generate].{json.dumps(key)}"
            if key == "obstacles":
                obstacles = _obstacles(value, where)
                continue
            if not all(part.strip() for part in key.split(".")):
                raise InputError(f'{where}: expected a dotted scene key such as "material.E"')
            parameters.append((key, _distribution(value, where)))
        return cls(tuple(parameters), obstacles)

    def draw(self, rng: np.random.Generator) -> dict[str, Any]:
        """One sample: scene key -> value, in declaration order (obstacles last)."""
        values = {key: dist.draw(rng) for key, dist in self.parameters}
        if self.obstacles is not None:
            values[self.obstacles.key] = self.obstacles.draw(rng)
        return values

    def sample(self, rng: np.random.Generator) -> list[str]:
        """One sample as ``key=value`` overrides for :func:`learnsim.scenes.apply_overrides`."""
        return as_overrides(self.draw(rng))


def as_overrides(values: dict[str, Any]) -> list[str]:
    """``key=value`` strings with each value written as TOML (so apply_overrides reads it back)."""
    return [f"{key}={_toml(value)}" for key, value in values.items()]


def _toml(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")


def _distribution(value: Any, where: str) -> Distribution:
    if not isinstance(value, dict):
        return Distribution("fixed", (value,))
    if len(value) != 1:
        raise InputError(f"{where}: expected one distribution, e.g. {{uniform = [1.0, 2.0]}}, got {len(value)} keys")
    (kind, args), = value.items()  # fmt: skip
    if kind not in DISTRIBUTIONS:
        raise InputError(f"{where}: unknown distribution '{kind}' (valid: {', '.join(DISTRIBUTIONS)})")
    if not isinstance(args, list) or not args:
        raise InputError(f"{where}: {kind} takes a list, e.g. {kind} = [1.0, 2.0]")
    if kind == "choice":
        return Distribution(kind, tuple(args))
    pair = _pair(args, where, kind, integer=kind == "integer")
    if kind == "normal" and pair[1] < 0:
        raise InputError(f"{where}: normal = [mean, std] needs std >= 0, got {pair[1]}")
    if kind != "normal" and pair[0] > pair[1]:
        raise InputError(f"{where}: {kind} = [{pair[0]}, {pair[1]}] has low above high")
    if kind == "loguniform" and pair[0] <= 0:
        raise InputError(f"{where}: loguniform = [low, high] needs low > 0, got {pair[0]}")
    return Distribution(kind, pair)


def _pair(args: Any, where: str, name: str, integer: bool = False) -> tuple:
    numbers = int if integer else int | float
    if not (
        isinstance(args, list)
        and len(args) == 2
        and all(isinstance(a, numbers) and not isinstance(a, bool) for a in args)
    ):
        what = "integers" if integer else "numbers"
        raise InputError(f"{where}: {name} takes two {what} [low, high], got {json.dumps(args)}")
    return tuple(args) if integer else (float(args[0]), float(args[1]))


def _obstacles(value: Any, where: str) -> ObstacleSpec:
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a table such as {{count = [1, 4], size = [0.05, 0.2]}}")
    unknown = sorted(set(value) - set(OBSTACLE_KEYS))
    if unknown:
        raise InputError(f"{where}: unknown key '{unknown[0]}' (valid: {', '.join(OBSTACLE_KEYS)})")
    spec = ObstacleSpec()
    count = _pair(value.get("count", list(spec.count)), f"{where}.count", "count", integer=True)
    size = _pair(value.get("size", list(spec.size)), f"{where}.size", "size")
    box = value.get("box", [list(b) for b in spec.box])
    if not isinstance(box, list) or len(box) not in (2, 3):
        raise InputError(f"{where}.box: expected 2 or 3 [low, high] pairs, got {json.dumps(box)}")
    box = tuple(_pair(b, f"{where}.box", "box") for b in box)
    numbers = {}
    for name in ("conductivity", "background", "amplitude"):
        number = value.get(name, getattr(spec, name))
        if not isinstance(number, int | float) or isinstance(number, bool) or not math.isfinite(number) or number < 0:
            raise InputError(f"{where}.{name}: expected a non-negative number, got {json.dumps(number)}")
        numbers[name] = float(number)
    if numbers["conductivity"] <= 0 or numbers["background"] <= 0:
        raise InputError(f"{where}: conductivity and background must be positive")
    modes, shape, key = value.get("modes", 0), value.get("shape", "box"), value.get("key", spec.key)
    if not isinstance(modes, int) or isinstance(modes, bool) or modes < 0:
        raise InputError(f"{where}.modes: expected a non-negative integer, got {json.dumps(modes)}")
    if shape not in ("box", "disc"):
        raise InputError(f"{where}.shape: '{shape}' is not one of box, disc")
    if count[0] < 0 or count[0] > count[1] or size[0] <= 0 or size[0] > size[1]:
        raise InputError(f"{where}: count and size must be [low, high] with 0 <= low <= high (size > 0)")
    return ObstacleSpec(count, size, box=box, shape=shape, modes=modes, key=str(key), **numbers)


# --- parallel generation -------------------------------------------------------------------


def sample_seed(seed: int, index: int) -> int:
    """The seed of sample ``index`` of a run with ``seed``: independent of how work is split."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0])


def shard_name(first: int, stop: int) -> str:
    """File name of the shard holding samples ``first`` to ``stop - 1``."""
    return f"samples_{first:06d}-{stop:06d}.h5"


def build_shard(make_systems: Callable[[int], list[LinearSystem]], first: int, stop: int, seed: int, path: str) -> int:
    """Run samples ``first .. stop - 1`` and write their systems to ``path``; the number written.

    Each system's parameters gain ``sample`` (its index) so that splits keep a sample's
    systems together. Runs on a dask worker (Warp is initialised there, quietly).
    """
    _init_warp()
    systems = []
    for index in range(first, stop):
        for system in make_systems(sample_seed(seed, index)):
            systems.append(replace(system, parameters={**system.parameters, "sample": index}))
    write_shard(path, systems, attributes={"first": first, "stop": stop, "seed": seed, "systems": len(systems)})
    return len(systems)


@functools.cache
def _init_warp() -> None:
    from learnsim.engine import quiet_warp

    quiet_warp()


def shard_systems(path: Path, first: int, stop: int, seed: int) -> int | None:
    """Number of systems in a complete shard of this run at ``path``, None if it must be (re)built."""
    try:
        with h5py.File(path, "r") as f:
            attrs = f.attrs
            same = [attrs.get(k) for k in ("first", "stop", "seed")] == [first, stop, seed]
            count = int(attrs.get("systems", -1))
            return count if same and count == sum(isinstance(f[k], h5py.Group) for k in f) else None
    except (OSError, KeyError, TypeError, ValueError):
        return None


def generate_dataset(
    make_systems: Callable[[int], list[LinearSystem]],
    samples: int,
    out: str | os.PathLike,
    *,
    shard_size: int = 16,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    seed: int = 0,
) -> Path:
    """Write the systems of ``samples`` samples to the dataset folder ``out`` (see learnsim.io.datasets).

    Args:
        make_systems: ``make_systems(seed) -> list[LinearSystem]`` for one sample; picklable
            (a module-level function or a functools.partial of one), as it runs on workers.
        samples: number of samples; sample i gets ``sample_seed(seed, i)``, so the dataset does
            not depend on the number of workers.
        out: dataset folder, created if needed. Shards already complete there (same sample
            range and seed) are kept; temporary files of an interrupted run are removed.
        shard_size: samples per shard (one dask task each).
        workers: local worker processes (one thread each; default: the CPU count). Ignored
            with ``scheduler``. ``workers=0`` runs in this process without dask.
        scheduler: address of an existing dask scheduler, e.g. "tcp://host:8786"; its workers
            must see ``out`` at the same path.
        progress: show a progress bar over shards on stderr.

    Returns:
        ``out``, holding the shards and, written last, ``manifest.json``.
    """
    if samples < 1 or shard_size < 1:
        raise InputError(f"samples = {samples} and shard_size = {shard_size} must be at least 1")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".*.partial"):
        stale.unlink(missing_ok=True)
    plan = [(first, min(first + shard_size, samples)) for first in range(0, samples, shard_size)]
    counts = {shard_name(*r): shard_systems(out / shard_name(*r), *r, seed) for r in plan}
    todo = [(first, stop) for first, stop in plan if counts[shard_name(first, stop)] is None]
    with ProgressBar("shards", len(plan), completed=len(plan) - len(todo), enabled=progress) as bar:
        bar.update()  # shown from the start: a shard may take a while
        advance = functools.partial(bar.update, advance=1)
        if workers == 0 and scheduler is None:
            for first, stop in todo:
                name = shard_name(first, stop)
                counts[name] = build_shard(make_systems, first, stop, seed, str(out / name))
                advance()
        elif todo:
            with _client(workers, scheduler) as client:
                counts.update(_run_on_cluster(client, make_systems, todo, seed, out, advance))
    write_manifest(out, list(counts), count=sum(counts.values()))
    return out


def _run_on_cluster(client, make_systems, todo, seed: int, out: Path, advance) -> dict[str, int]:
    from distributed import as_completed

    futures = {
        client.submit(build_shard, make_systems, first, stop, seed, str(out / shard_name(first, stop)), pure=False):
        shard_name(first, stop)
        for first, stop in todo
    }  # fmt: skip
    counts = {}
    try:
        for future in as_completed(futures):
            counts[futures[future]] = future.result()  # re-raises a worker's exception here
            advance()
    finally:
        client.cancel(list(futures))
    return counts


@contextmanager
def _client(workers: int | None, scheduler: str | None):
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as err:
            raise InputError(f"--scheduler {scheduler}: cannot connect ({err})") from None
        with client:
            yield client
        return
    n = workers if workers is not None else (os.cpu_count() or 1)
    cluster = LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
    )
    with cluster, Client(cluster) as client:
        yield client


# --- scene families ------------------------------------------------------------------------


def scene_family(scene: str | os.PathLike, overrides: Sequence[str] = (), device: str | None = None):
    """``make_systems`` for a scene file (or built-in name) with a ``[generate]`` table.

    ``overrides`` (``--set``) apply after the sampled values, so they win. The table and one
    sampled scene are checked here, so bad input fails before any worker starts.
    """
    from learnsim.scenes.loader import read_scene_text

    text, source, base_dir = read_scene_text(scene)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{source}: TOML syntax error: {err}") from None
    family = functools.partial(
        scene_systems, data, source=source, base_dir=base_dir, overrides=tuple(overrides), device=device
    )
    _sampled_scene(data, 0, source, base_dir, tuple(overrides))
    return family


def _sampled_scene(data: dict, seed: int, source: str, base_dir, user: tuple[str, ...]):
    spec = GenerateSpec.from_table(data.get("generate", {}), source)
    values = spec.draw(np.random.default_rng(seed))
    scene_data = {k: v for k, v in data.items() if k != "generate"}
    scene = scene_from_dict(apply_overrides(scene_data, [*as_overrides(values), *user]), source, base_dir)
    if scene.kind == "sph" and scene.sph.scheme != "isph":
        raise InputError(f'{source}: a {scene.sph.scheme} scene solves no linear systems: use scheme = "isph"')
    return scene, values


def scene_systems(
    data: dict, seed: int, *, source: str = "<dict>", base_dir=None, overrides: Sequence[str] = (), device=None
) -> list[LinearSystem]:
    """The systems one sample of the scene ``data`` (TOML layout with ``[generate]``) solves.

    Parameters recorded per system: the scene name and every sampled key with its value.
    """
    scene, values = _sampled_scene(data, seed, source, base_dir, tuple(overrides))
    systems: list[LinearSystem] = []
    from learnsim.scenes.run import run_scene

    run_scene(scene, device, on_system=systems.append)
    parameters = {"scene": scene.scene.name, **values}
    return [replace(s, parameters={**s.parameters, **parameters}) for s in systems]


__all__ = [
    "DISTRIBUTIONS",
    "Distribution",
    "GenerateSpec",
    "ObstacleSpec",
    "build_shard",
    "generate_dataset",
    "as_overrides",
    "sample_seed",
    "scene_family",
    "scene_systems",
    "shard_name",
]
