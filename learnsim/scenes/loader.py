"""Scenes from TOML: built-in names or files, command-line overrides, and the reverse (a dict).

The TOML layout mirrors :class:`~learnsim.scenes.scene.Scene`::

    [scene]     name, kind, dim, description
    [mesh]      file | generator, size, origin, corners, cells, element, order
    [material]  model, E, nu, density, plane, conductivity, heat_capacity
    [[bc]]      type, region, value, components
    [[load]]    type, region, value, ramp, ramp_time
    [solver]    preconditioner, tol, max_iters, newton_tol, newton_max_iters, load_steps
    [output]    fields, every
    [time]      dt, steps | end, integrator, mass        (optional: makes the scene time dependent)
    [initial]   displacement, velocity, temperature     (optional, with [time])

An SPH scene (``kind = "sph"``) has no [mesh], [material], [[bc]], [[load]] or [initial]; it has::

    [sph]       scheme, spacing, rest_density, viscosity, sound_speed, gamma, artificial_viscosity,
                density_diffusion, kernel, h_over_spacing, gravity, gravity_ramp, domain, periodic
    [[fluid]]   box = {lower, upper}, region, velocity
    [[wall]]    kind = "block" | "tank", box, layers, velocity
    [time]      end, dt (optional)
    [output]    fields, frames, walls
    [solver]    preconditioner, tol, max_iters             (scheme = "isph" only)

Unknown tables and keys are rejected here (with the closest valid name as a hint); the
values themselves are checked when the :class:`Scene` is built, so Python-built scenes get
the same messages. A ``[generate]`` table makes the file a scene family (:func:`load_family`):
each seed draws one scene from it (see :mod:`learnsim.scenes.sampling`).
"""

from __future__ import annotations

import copy
import difflib
import os
import tomllib
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from learnsim.core.errors import InputError
from learnsim.core.expression import Expression
from learnsim.learned.registry import ModelFile
from learnsim.scenes.checker import Checker, format_value
from learnsim.scenes.sampling import GenerateSpec, as_overrides
from learnsim.scenes.scene import Scene
from learnsim.scenes.specs import (
    AXES,
    LEARNED_PREFIX,
    BoundaryCondition,
    InitialSpec,
    Load,
    MaterialSpec,
    MeshSpec,
    OutputSpec,
    SceneInfo,
    SolverSpec,
    TimeSpec,
)
from learnsim.scenes.sph_spec import Box, FluidSpec, SPHSpec, WallSpec

TABLES = {
    "scene": SceneInfo,
    "mesh": MeshSpec,
    "material": MaterialSpec,
    "solver": SolverSpec,
    "output": OutputSpec,
    "time": TimeSpec,
    "initial": InitialSpec,
    "sph": SPHSpec,
}
"""[table] name -> the dataclass it becomes; its field names are the valid keys."""
_OPTIONAL_TABLES = ("mesh", "time", "initial", "sph")
"""Tables that stay None when absent (the others take their defaults)."""
ARRAYS = {"bc": BoundaryCondition, "load": Load, "fluid": FluidSpec, "wall": WallSpec}
"""[[array of tables]] name -> the dataclass each entry becomes."""


def load_scene(scene: str | os.PathLike, overrides: Sequence[str] = ()) -> Scene:
    """Read, override and check a scene.

    Args:
        scene: a path to a TOML file, or the name of a built-in scene (see
            :func:`builtin_scenes`). An existing file wins over a built-in of the same name.
        overrides: ``"dotted.key=value"`` strings applied before checking, see
            :func:`apply_overrides`.

    Raises:
        InputError: no such scene, a TOML syntax error, or any invalid key or value.
    """
    data, source, base_dir = read_scene_file(scene)
    return scene_from_dict(apply_overrides(data, overrides), source=source, base_dir=base_dir)


@dataclass(frozen=True, eq=False)
class SceneFamily:
    """A scene with its ``[generate]`` distributions: every seed draws one checked scene.

    Plain data (it pickles), so ``learnsim generate`` hands it to dask workers, which draw their own
    samples: ``scene, values = family.sample(seed)``.

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

    def sample(self, seed: int) -> tuple[Scene, dict[str, Any]]:
        """The checked scene drawn with ``seed``, and the value drawn for each sampled key.

        Raises:
            InputError: a bad ``[generate]`` entry, or a drawn value (or override) that makes the scene invalid.
        """
        spec = GenerateSpec.from_table(self.data.get("generate", {}), self.source)
        values = spec.draw(np.random.default_rng(seed))
        scene_data = {key: value for key, value in self.data.items() if key != "generate"}
        data = apply_overrides(scene_data, [*as_overrides(values), *self.overrides])
        return scene_from_dict(data, self.source, self.base_dir), values


def load_family(scene: str | os.PathLike, overrides: Sequence[str] = ()) -> SceneFamily:
    """The family of a scene file or built-in name; the scene of seed 0 is checked here.

    Raises:
        InputError: as :func:`load_scene`, or a bad ``[generate]`` entry.
    """
    family = SceneFamily(*read_scene_file(scene), tuple(overrides))
    family.sample(0)
    return family


def scene_from_dict(data: dict, source: str = "<dict>", base_dir: Path | None = None) -> Scene:
    """Build a checked :class:`Scene` from a dict with the TOML layout.

    Args:
        data: parsed TOML (tables are dicts, arrays of tables lists of dicts).
        source: name used in error messages, usually the file name.
        base_dir: folder against which a relative ``[mesh].file`` resolves (the scene file's
            folder); None means the working directory.
    """
    c = Checker(source)
    if not isinstance(data, dict):
        c.fail("scene", ": expected a table of tables", data)
    for name in data:
        if name == "generate":
            # the parameter distributions of `learnsim generate`; a plain run uses the scene as written
            GenerateSpec.from_table(data[name], source)
            continue
        if name not in TABLES and name not in ARRAYS:
            hint = _suggest(name, [f"[{t}]" for t in TABLES] + ["[generate]"] + [f"[[{a}]]" for a in ARRAYS])
            c.fail(f"[{name}]", f"is not a known table{hint}")
    if "scene" not in data:  # the one table every scene has ([mesh] is checked with the kind)
        c.fail("[scene]", "is missing")

    parts: dict[str, Any] = {}
    for name, cls in TABLES.items():
        if name in _OPTIONAL_TABLES and name not in data:
            parts[name] = None
            continue
        table = data.get(name, {})
        if isinstance(table, list):
            c.fail(f"[[{name}]]", f"must be a single table: write [{name}]")
        if not isinstance(table, dict):
            c.fail(name, f": expected a table [{name}]", table)
        parts[name] = cls(**_keys(c, f"[{name}]", table, cls))
    for name, cls in ARRAYS.items():
        entries = data.get(name, [])
        if isinstance(entries, dict):
            c.fail(f"[{name}]", f"must be an array of tables: write [[{name}]]")
        if not isinstance(entries, list):
            c.fail(name, f": expected an array of tables [[{name}]]", entries)
        items = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                c.fail(f"[[{name}]][{i}]", ": expected a table", entry)
            items.append(cls(**_keys(c, f"[[{name}]][{i}]", entry, cls)))
        parts[name] = tuple(items)

    mesh_file = None if parts["mesh"] is None else parts["mesh"].file
    if isinstance(mesh_file, str | os.PathLike):
        path = Path(mesh_file).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        parts["mesh"] = replace(parts["mesh"], file=path)
    preconditioner = parts["solver"].preconditioner
    if isinstance(preconditioner, str) and preconditioner.startswith(LEARNED_PREFIX) and base_dir is not None:
        model = Path(preconditioner[len(LEARNED_PREFIX) :].strip()).expanduser()
        if model.parts and (Path(base_dir) / model).is_file():  # beside the scene file first, else from the cwd
            parts["solver"] = replace(parts["solver"], preconditioner=f"{LEARNED_PREFIX}{Path(base_dir) / model}")
    return Scene(
        scene=parts["scene"],
        mesh=parts["mesh"],
        material=parts["material"],
        bcs=parts["bc"],
        loads=parts["load"],
        solver=parts["solver"],
        output=parts["output"],
        source=source,
        time=parts["time"],
        initial=parts["initial"],
        sph=parts["sph"],
        fluids=parts["fluid"],
        walls=parts["wall"],
    )


def scene_to_dict(scene: Scene) -> dict[str, Any]:
    """The TOML layout of a checked scene (no None values): ``scene_from_dict`` inverts it."""
    data: dict[str, Any] = {
        name: _plain_table(getattr(scene, name)) for name in TABLES if getattr(scene, name) is not None
    }
    data["bc"] = [_plain_table(bc) for bc in scene.bcs]
    for bc in data["bc"]:
        if "components" in bc:
            bc["components"] = [AXES[i] for i in bc["components"]]
    data["load"] = [_plain_table(load) for load in scene.loads]
    if scene.kind == "sph":
        data["fluid"] = [_plain_table(fluid) for fluid in scene.fluids]
        data["wall"] = [_plain_table(wall) for wall in scene.walls]
    return data


def builtin_scenes() -> list[tuple[str, str]]:
    """(name, one-line description) of every built-in scene, sorted by name."""
    result = []
    for name, resource in sorted(_builtin_files().items()):
        info = tomllib.loads(resource.read_text(encoding="utf-8")).get("scene", {})
        result.append((name, info.get("description", "")))
    return result


def apply_overrides(data: dict, overrides: Sequence[str]) -> dict:
    """Return a copy of ``data`` with each ``"dotted.key=value"`` override applied in order.

    The value is read as a TOML value (``2000``, ``[40, 4, 4]``, ``"x < 1"``, ``true``) and,
    when that fails, taken as a plain string (``ic0``, ``x < 1``). Entries of an array of
    tables are addressed by index from 0: ``bc.0.value=0.1``; the index one past the end
    appends a new entry. A relative ``mesh.file`` resolves against the working directory,
    as paths typed on a command line do. New keys are allowed here; checking the scene
    rejects the unknown ones.

    Raises:
        InputError: an override without ``=``, an empty key, an index out of range, or a
            path through a value that is not a table.
    """
    data = copy.deepcopy(data)
    for text in overrides:
        if not isinstance(text, str) or "=" not in text:
            raise InputError(f"override {text!r} has no '=' (expected key.path=value, e.g. material.E=2000)")
        key, raw = (s.strip() for s in text.split("=", 1))
        path = [p.strip() for p in key.split(".")]
        if not all(path):
            raise InputError(f"override {text!r}: empty key in {key!r} (expected e.g. material.E=2000)")
        value = _parse_value(raw)
        if path == ["mesh", "file"] and isinstance(value, str):
            value = str(Path(value).expanduser().resolve())
        node: Any = data
        for depth, part in enumerate(path[:-1]):
            new: Any = [] if path[depth + 1].isdigit() else {}
            node = _child(node, part, new, text, ".".join(path[:depth]))
        _child(node, path[-1], value, text, ".".join(path[:-1]), assign=True)
    return data


def _child(node: Any, part: str, new: Any, text: str, where: str, assign: bool = False) -> Any:
    """The entry ``part`` of a table or array ``node`` (named ``where``), set to ``new`` when
    absent, or always when ``assign``; an index one past the end of an array appends."""
    if isinstance(node, dict):
        if assign or part not in node:
            node[part] = new
        return node[part]
    if isinstance(node, list):
        if not part.isdigit():
            hint = f"address an entry by index, e.g. {where}.0.{part}"
            raise InputError(f"override {text!r}: {where} is an array of tables; {hint}")
        index = int(part)
        if index > len(node):
            raise InputError(f"override {text!r}: index {index} is out of range ([[{where}]] has {len(node)} entries)")
        if index == len(node):
            node.append(new)
        elif assign:
            node[index] = new
        return node[index]
    raise InputError(f"override {text!r}: {where} = {format_value(node)} is a value, not a table")


def _parse_value(raw: str) -> Any:
    try:
        parsed = tomllib.loads(f"v = {raw}")
    except tomllib.TOMLDecodeError:
        return raw
    # "1\nw = 2" parses as two keys: that is not one value, so keep the text.
    return parsed["v"] if len(parsed) == 1 else raw


def _keys(c: Checker, prefix: str, table: dict, cls: type) -> dict[str, Any]:
    """Constructor arguments for ``cls`` from a TOML table: known keys only, lists as tuples."""
    valid = [f.name for f in fields(cls)]
    for key, value in table.items():
        if key not in valid:
            c.fail(f"{prefix}.{key}", f"is not a known key{_suggest(key, valid)}", value)
    for f in fields(cls):
        if f.default is MISSING and f.default_factory is MISSING and f.name not in table:
            c.fail(f"{prefix}.{f.name}", "is required")
    return {key: _freeze(value) for key, value in table.items()}


def _suggest(name: str, options: list[str]) -> str:
    """`` (did you mean 'nu'?)`` for the closest option, else the list of valid names."""
    bare = [o.strip("[]") for o in options]
    lowered = {b.lower(): o for b, o in zip(bare, options, strict=True)}
    match = lowered.get(name.lower())
    if match is None:
        close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
        match = lowered[close[0]] if close else None
    if match is None:
        return f" (valid: {', '.join(options)})"
    return f" (did you mean {match if match.startswith('[') else repr(match)}?)"


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Expression):
        return value.source
    if isinstance(value, Path | ModelFile):
        return str(value)
    if isinstance(value, Box):
        return {"lower": list(value.lower), "upper": list(value.upper)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _plain_table(spec: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(spec, f.name)) for f in fields(spec) if getattr(spec, f.name) is not None}


def _builtin_files() -> dict[str, Any]:
    folder = resources.files("learnsim.scenes").joinpath("builtin")
    return {r.name.removesuffix(".toml"): r for r in folder.iterdir() if r.name.endswith(".toml")}


def read_scene_file(scene: str | os.PathLike) -> tuple[dict, str, Path | None]:
    """(parsed TOML, source name for messages, folder for relative paths) of a file or built-in."""
    text, source, base_dir = _scene_text(scene)
    try:
        return tomllib.loads(text), source, base_dir
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: TOML syntax error: {exc}") from None


def _scene_text(scene: str | os.PathLike) -> tuple[str, str, Path | None]:
    path = Path(scene).expanduser()
    if path.is_file():
        source = str(scene)
        try:
            return path.read_bytes().decode("utf-8"), source, path.resolve().parent
        except UnicodeDecodeError:
            raise InputError(f"{source}: not a UTF-8 text file") from None
        except OSError as exc:
            raise InputError(f"{source}: cannot read ({exc.strerror})") from None
    builtin = _builtin_files()
    name = str(scene)
    if name not in builtin:
        raise InputError(f"no such scene {name!r} (not a file; built-in scenes: {', '.join(sorted(builtin))})")
    resource = builtin[name]
    base_dir = resource.parent if isinstance(resource, Path) else None
    return resource.read_text(encoding="utf-8"), f"{name}.toml", base_dir
