"""One calibration point of learnsim.running.budget (not a test): the peak memory of one run.

    PYTHONPATH=. python tests/running/measure_memory.py SCENE [KEY=VALUE ...] [--nowrite]

prints one JSON line: the resident memory before ``run_scene`` and its peak (``ru_maxrss``), the
run's counts and the budget's estimate. ``--nowrite`` runs without an output folder (the frames
stay in memory). Only measure sizes the machine can afford: the estimate says how much it needs.
"""

import json
import os
import resource
import sys
import tempfile


def _resident() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    name, overrides = sys.argv[1], [a for a in sys.argv[2:] if a != "--nowrite"]
    keep = "--nowrite" in sys.argv[2:]
    import warp as wp

    from learnsim.running.budget import estimate
    from learnsim.running.run import run_scene
    from learnsim.scenes import load_scene

    scene = load_scene(name, overrides)
    wp.init()
    before = _resident()
    with tempfile.TemporaryDirectory() as folder:
        result = run_scene(scene, device="cpu", out_dir=None if keep else os.path.join(folder, "out"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    need = estimate(scene, keep_frames=keep)
    info = {"scene": name, "overrides": overrides, "before": before, "peak": peak, "estimate": need.bytes}
    info["measured"] = peak - before
    info["counts"] = need.counts
    if hasattr(result, "n_dofs"):
        info["dofs"] = result.n_dofs
    print(json.dumps(info))


if __name__ == "__main__":
    main()
