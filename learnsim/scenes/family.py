"""A scene family: a scene file with a ``[generate]`` table, from which every seed draws one checked scene.

    family = load_family("poisson_obstacles", ["mesh.cells=[32,32]"])
    scene, values = family.sample(seed)     # values: the sampled scene keys and what they drew

A family is plain data (the parsed TOML, its source name and folder, the overrides), so it
pickles: ``learnsim generate`` hands it to dask workers, which draw their own samples.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from learnsim.core.errors import InputError
from learnsim.scenes.loader import apply_overrides, read_scene_text, scene_from_dict
from learnsim.scenes.sampling import GenerateSpec, as_overrides
from learnsim.scenes.scene import Scene


@dataclass(frozen=True, eq=False)
class SceneFamily:
    """A scene with its ``[generate]`` distributions.

    Attributes:
        data: the scene file as parsed TOML, ``[generate]`` included.
        source: file name for messages; base_dir: folder for relative paths (None: the working
            directory).
        overrides: ``key=value`` strings (``--set``) applied after the sampled values, so they win.
    """

    data: dict
    source: str
    base_dir: Path | None = None
    overrides: tuple[str, ...] = ()

    @property
    def spec(self) -> GenerateSpec:
        """The checked ``[generate]`` table (empty when the file has none: every sample is the scene)."""
        return GenerateSpec.from_table(self.data.get("generate", {}), self.source)

    def sample(self, seed: int) -> tuple[Scene, dict[str, Any]]:
        """The checked scene drawn with ``seed``, and the value drawn for each sampled key.

        Raises:
            InputError: a drawn value (or an override) that makes the scene invalid.
        """
        values = self.spec.draw(np.random.default_rng(seed))
        scene_data = {key: value for key, value in self.data.items() if key != "generate"}
        data = apply_overrides(scene_data, [*as_overrides(values), *self.overrides])
        return scene_from_dict(data, self.source, self.base_dir), values


def load_family(scene: str | os.PathLike, overrides: Sequence[str] = ()) -> SceneFamily:
    """The family of a scene file or built-in name; its table and the scene of seed 0 are checked here.

    Raises:
        InputError: no such scene, a TOML syntax error, a bad ``[generate]`` entry, or a
            sampled scene that is invalid.
    """
    text, source, base_dir = read_scene_text(scene)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{source}: TOML syntax error: {err}") from None
    family = SceneFamily(data, source, base_dir, tuple(overrides))
    family.sample(0)
    return family
