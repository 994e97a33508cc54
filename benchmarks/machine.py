"""The machine a benchmark ran on, for the record in BENCHMARKS.md."""

import os
import platform
from importlib.metadata import version


def machine() -> str:
    """CPU model, cores and memory (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
        with open("/proc/meminfo") as meminfo:
            kib = int(next(line.split()[1] for line in meminfo if line.startswith("MemTotal")))
        return f"{model}, {os.cpu_count()} cores, {kib / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration):
        return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def versions(*distributions: str) -> str:
    """``"warp-lang 1.19.0, jax 0.10.2, ..., python 3.11.7"`` for the installed ``distributions``."""
    return ", ".join(f"{name} {version(name)}" for name in distributions) + f", python {platform.python_version()}"
