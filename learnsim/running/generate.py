"""Datasets of the linear systems a scene family solves, generated in parallel with dask.distributed.

- :func:`generate_dataset` runs ``make_systems(seed)`` for every sample on a dask cluster; each
  task writes one shard of samples itself, the manifest is written last, and a run that was
  interrupted resumes without redoing finished shards.
- :func:`family_systems` is the ``make_systems`` of a scene family (a scene file with a
  ``[generate]`` table, see :mod:`learnsim.scenes.sampling`): every linear system one sampled
  scene solves.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np

from learnsim.core.errors import InputError
from learnsim.core.progress import ProgressBar
from learnsim.core.systems import LinearSystem
from learnsim.io.atomic import check_writable, removing_created_folders
from learnsim.io.datasets import write_manifest, write_shard
from learnsim.running.budget import check_memory
from learnsim.running.run import resolve_device, run_scene
from learnsim.scenes.loader import SceneFamily, load_family

MAX_SHARDS = 1_000_000
"""Shards a dataset may have: its manifest lists them all (about 30 bytes each)."""


def sample_seed(seed: int, index: int) -> int:
    """The seed of sample ``index`` of a run with ``seed``: independent of how work is split."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0])


def shard_name(first: int, stop: int) -> str:
    """File name of the shard holding samples ``first`` to ``stop - 1``."""
    return f"samples_{first:06d}-{stop:06d}.h5"


def build_shard(make_systems: Callable[[int], list[LinearSystem]], first: int, stop: int, seed: int, path: str) -> int:
    """Run samples ``first .. stop - 1`` and write their systems to ``path``; the number written.

    Each system's parameters gain ``sample`` (its index) so that splits keep a sample's
    systems together. Runs on a dask worker.
    """
    systems = []
    for index in range(first, stop):
        for system in make_systems(sample_seed(seed, index)):
            systems.append(replace(system, parameters={**system.parameters, "sample": index}))
    write_shard(path, systems, attributes={"first": first, "stop": stop, "seed": seed, "systems": len(systems)})
    return len(systems)


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
    progress: bool = False,
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
    if workers is not None and workers < 0:
        raise InputError(f"--workers = {workers} must be 0 (in this process) or more")
    if not 0 <= seed < 2**63:  # recorded in every shard as a 64-bit integer
        raise InputError(f"--seed = {seed} must be between 0 and 2^63 - 1")
    shards = -(-samples // shard_size)
    if shards > MAX_SHARDS:  # the plan and the manifest list every shard
        raise InputError(
            f"--samples = {samples} in shards of {shard_size} makes {shards:.3g} shards, above {MAX_SHARDS:,}: "
            "raise --shard-size"
        )
    out = check_writable(out, f"--out {out}", folder=True)
    plan = [(first, min(first + shard_size, samples)) for first in range(0, samples, shard_size)]
    counts = {shard_name(*r): shard_systems(out / shard_name(*r), *r, seed) for r in plan}
    todo = [(first, stop) for first, stop in plan if counts[shard_name(first, stop)] is None]
    local = workers == 0 and scheduler is None
    # connected before anything is shown or created: a scheduler that does not answer leaves nothing
    with _client(workers, scheduler) if todo and not local else nullcontext() as client:
        with removing_created_folders(out), _removing_partial_shards(out):
            out.mkdir(parents=True, exist_ok=True)
            with ProgressBar("shards", len(plan), completed=len(plan) - len(todo), enabled=progress) as bar:
                bar.update()  # shown from the start: a shard may take a while
                advance = functools.partial(bar.update, advance=1)
                if local:
                    for first, stop in todo:
                        name = shard_name(first, stop)
                        counts[name] = build_shard(make_systems, first, stop, seed, str(out / name))
                        advance()
                elif todo:
                    counts.update(_run_on_cluster(client, make_systems, todo, seed, out, advance))
            write_manifest(out, list(counts), count=sum(counts.values()))
    return out


@contextmanager
def _removing_partial_shards(out: Path) -> Iterator[None]:
    """Remove the temporary files of shards (a worker's, or a run's that was stopped), before and after."""
    for stale in out.glob(".*.partial"):
        stale.unlink(missing_ok=True)
    try:
        yield
    finally:
        for stale in out.glob(".*.partial"):
            stale.unlink(missing_ok=True)


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
        except (OSError, TimeoutError, ValueError) as err:  # ValueError: an address dask cannot parse
            raise InputError(f"--scheduler {scheduler}: cannot connect ({_one_line(err)})") from None
        with client:
            yield client
        return
    n = workers if workers is not None else (os.cpu_count() or 1)
    cluster = LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
    )
    with cluster, Client(cluster) as client:
        yield client


def family_systems(
    scene: str | os.PathLike, overrides: Sequence[str] = (), device: str | None = None, max_memory: int | None = None
) -> Callable[[int], list[LinearSystem]]:
    """``make_systems(seed)`` of a scene file (or built-in name) with a ``[generate]`` table.

    ``overrides`` (``--set``) apply after the sampled values, so they win. The table and one
    sampled scene are checked here, so bad input fails before any worker starts.

    ``max_memory`` (bytes; None: what is available) bounds the memory of one sample's run.

    Raises:
        InputError: see :func:`~learnsim.scenes.loader.load_family`; a scene that solves no
            linear system (a WCSPH scene), a device that is not there, or a sample too large for
            the memory (see :mod:`learnsim.running.budget`).
    """
    resolve_device(device)
    family = load_family(scene, overrides)
    first = family.sample(0)[0]
    _check_solves_systems(first)
    check_memory(first, max_memory)  # every sample is checked again when it runs, on its worker
    return functools.partial(scene_systems, family, device=device, max_memory=max_memory)


def scene_systems(
    family: SceneFamily, seed: int, *, device: str | None = None, max_memory: int | None = None
) -> list[LinearSystem]:
    """The systems the scene of ``family`` drawn with ``seed`` solves.

    Parameters recorded per system: the scene name and every sampled key with its value.
    """
    scene, values = family.sample(seed)
    _check_solves_systems(scene)
    systems: list[LinearSystem] = []
    run_scene(scene, device, on_system=systems.append, max_memory=max_memory)
    parameters = {"scene": scene.scene.name, **values}
    return [replace(s, parameters={**s.parameters, **parameters}) for s in systems]


def _check_solves_systems(scene) -> None:
    if scene.kind == "sph" and scene.sph.scheme != "isph":
        raise InputError(f'{scene.source}: a {scene.sph.scheme} scene solves no linear systems: use scheme = "isph"')


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())
