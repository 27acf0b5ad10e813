"""The search space: which ``TrainConfig`` fields a study samples, and over which ranges.

``joint``: ``epsilon`` ∈ [0, 0.5], ``structural`` ∈ [0, 1]. ``full`` adds ``lr`` ∈
[1e-3, 1e-1] (log), ``weight_decay`` ∈ [1e-6, 1e-2] (log), ``dropout`` ∈ [0, 0.8]
and ``hidden`` ∈ {8, 16, 32, 64}. A non-uniform ``prior`` (``class``,
``neighbors`` or ``posterior``) adds ``prior_weight`` ∈ [0, 1]; ``posterior``
widens ``epsilon`` to [0, 1] (PosteL's α is 0.8) and, when asked,
adds ``pseudo_label_rounds`` ∈ {0, ..., R}. A TOML file overrides or adds
ranges, one table per parameter::

    [epsilon]
    high = 0.3
    [lr]              # adds lr to the joint space
    low = 1e-3
    high = 1e-1
    log = true
    [hidden]
    choices = [16, 32]
    [weight_decay]    # categorical: exactly these values
    choices = [0.0, 5e-4]
    [structural]
    grid = [0.0, 0.5, 1.0]   # the points the grid sampler visits
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from graphls._validation import check_choice

__all__ = ["GRID_POINTS", "SPACES", "SUPPORTED_PARAMS", "ParamSpec", "grid_space",
           "search_space"]

SPACES = ("joint", "full")
#: Points per float parameter of the grid sampler's default grid (6 × 6 over the joint space).
GRID_POINTS = 6
#: The ``TrainConfig`` fields a space can search.
SUPPORTED_PARAMS = ("epsilon", "structural", "lr", "weight_decay", "dropout", "hidden",
                    "prior_weight", "pseudo_label_rounds")


@dataclass(frozen=True)
class ParamSpec:
    """One searched ``TrainConfig`` field: a float range (optionally log) or integer choices.

    Attributes:
        name: The ``TrainConfig`` field and Optuna parameter name.
        low: Lower bound (floats).
        high: Upper bound (floats).
        log: Sample ``log(value)`` uniformly.
        choices: Categorical values instead of a range: integers for ``hidden`` and
            ``pseudo_label_rounds``, numbers for a float field (``lr = [0.001, 0.01]``).
        grid: The points the grid sampler visits (default: ``GRID_POINTS`` evenly
            spaced, geometrically for ``log``, or every choice).
    """

    name: str
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    choices: tuple[float | int, ...] | None = None
    grid: tuple[float, ...] | None = None

    def suggest(self, trial: optuna.Trial) -> float | int:
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def grid_values(self, points: int = GRID_POINTS) -> list[float | int]:
        if self.grid is not None:
            return list(self.grid)
        if self.choices is not None:
            return list(self.choices)
        if self.log:
            values = np.geomspace(self.low, self.high, points)
        else:
            values = np.linspace(self.low, self.high, points)
        return [round(float(v), 10) for v in values]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name}
        if self.choices is not None:
            d["choices"] = list(self.choices)
        else:
            d.update(low=self.low, high=self.high, log=self.log)
        if self.grid is not None:
            d["grid"] = list(self.grid)
        return d


_BUILTIN: dict[str, ParamSpec] = {
    "epsilon": ParamSpec("epsilon", 0.0, 0.5),
    "structural": ParamSpec("structural", 0.0, 1.0),
    "lr": ParamSpec("lr", 1e-3, 1e-1, log=True),
    "weight_decay": ParamSpec("weight_decay", 1e-6, 1e-2, log=True),
    "dropout": ParamSpec("dropout", 0.0, 0.8),
    "hidden": ParamSpec("hidden", choices=(8, 16, 32, 64)),
    "prior_weight": ParamSpec("prior_weight", 0.0, 1.0),
    "pseudo_label_rounds": ParamSpec("pseudo_label_rounds", choices=(0, 1, 2, 3)),
}
#: The integer parameters, with the smallest choice each may take.
_INTEGER = {"hidden": 1, "pseudo_label_rounds": 0}
# (low, high, high_open) that a range of each float parameter must stay within.
_LIMITS = {"epsilon": (0.0, 1.0, False), "structural": (0.0, 1.0, False),
           "dropout": (0.0, 1.0, True), "prior_weight": (0.0, 1.0, False),
           "lr": (0.0, math.inf, True), "weight_decay": (0.0, math.inf, True)}


def search_space(space: str = "joint", prior: str = "uniform",
                 space_file: str | os.PathLike | None = None, *,
                 pseudo_label_rounds: int = 0) -> dict[str, ParamSpec]:
    """The searched parameters, in order: ``joint`` or ``full``, the prior weight, TOML overrides.

    Args:
        space: ``"joint"`` (ε, λ) or ``"full"`` (also lr, weight_decay, dropout, hidden).
        prior: A non-uniform prior (``"class"``, ``"neighbors"``, ``"posterior"``) adds
            ``prior_weight``; ``"posterior"`` searches ``epsilon`` over [0, 1].
        space_file: TOML file with one table per parameter (keys ``low``, ``high``,
            ``log``, ``choices``, ``grid``); a table for a parameter not in the space adds it.
        pseudo_label_rounds: With ``prior="posterior"``, also search
            ``pseudo_label_rounds`` in ``0..pseudo_label_rounds`` (0: not searched).

    Raises:
        ValueError: unknown space, parameter or key, a range outside the parameter's limits,
            or a parameter that would do nothing (``prior_weight`` under a uniform prior,
            ``pseudo_label_rounds`` without the posterior prior).
        FileNotFoundError: ``space_file`` does not exist.
    """
    check_choice("space", space, SPACES)
    names = ["epsilon", "structural"]
    if space == "full":
        names += ["lr", "weight_decay", "dropout", "hidden"]
    if prior != "uniform":
        names.append("prior_weight")
    specs = {n: _BUILTIN[n] for n in names}
    if prior == "posterior":
        specs["epsilon"] = ParamSpec("epsilon", 0.0, 1.0)
        if pseudo_label_rounds:
            specs["pseudo_label_rounds"] = ParamSpec(
                "pseudo_label_rounds", choices=tuple(range(pseudo_label_rounds + 1)))
    if space_file is not None:
        for name, table in _read_toml(space_file).items():
            idle = ((name == "prior_weight" and prior == "uniform")
                    or (name == "pseudo_label_rounds" and prior != "posterior"))
            if idle:
                needs = ("posterior" if name == "pseudo_label_rounds"
                         else "class, neighbors or posterior")
                raise ValueError(f"space file {str(space_file)!r}: {name} has no effect with "
                                 f"prior={prior!r}; use --prior {needs} or drop the table")
            specs[name] = _override(specs.get(name) or _BUILTIN.get(name), name, table,
                                    str(space_file))
    return specs


def grid_space(specs: Mapping[str, ParamSpec]) -> dict[str, list[Any]]:
    """The grid sampler's search space: each parameter's :meth:`ParamSpec.grid_values`."""
    return {n: s.grid_values() for n, s in specs.items()}


def _read_toml(path: str | os.PathLike) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"space file {str(p)!r} does not exist")
    try:
        return tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"space file {str(p)!r} is not valid TOML: {exc}") from None


def _choices(name: str, choices: Any, where: str) -> tuple[float | int, ...]:
    """A table's ``choices``: integers for an integer parameter (``hidden``, the rounds),
    numbers within the parameter's limits for a float one (PosteL's lr grid, say)."""
    if name in _INTEGER:
        least = _INTEGER[name]
        if (not isinstance(choices, list) or not choices
                or not all(isinstance(c, int) and not isinstance(c, bool) and c >= least
                           for c in choices)):
            raise ValueError(f"space file {where!r}: {name}.choices must be a non-empty list of "
                             f"integers >= {least}; got {choices!r}")
        return tuple(choices)
    lo, hi, high_open = _LIMITS[name]
    inside = (isinstance(choices, list) and choices
              and all(isinstance(c, (int, float)) and not isinstance(c, bool)
                      and lo <= c and (c < hi if high_open else c <= hi) for c in choices))
    if not inside or len(set(choices)) != len(choices):
        bracket = ")" if high_open else "]"
        raise ValueError(f"space file {where!r}: {name}.choices must be a non-empty list of "
                         f"distinct numbers in [{lo:g}, {hi:g}{bracket}; got {choices!r}")
    return tuple(float(c) for c in choices)


def _override(base: ParamSpec | None, name: str, table: Any, where: str) -> ParamSpec:
    if base is None:
        raise ValueError(f"space file {where!r}: parameter {name!r} is unknown; known: "
                         + ", ".join(SUPPORTED_PARAMS))
    if not isinstance(table, dict):
        raise ValueError(f"space file {where!r}: {name} must be a table like [{name}]; "
                         f"got {table!r}")
    unknown = sorted(set(table) - {"low", "high", "log", "choices", "grid"})
    if unknown:
        raise ValueError(f"space file {where!r}: {name} has unknown keys {unknown}; "
                         "known: low, high, log, choices, grid")
    fields: dict[str, Any] = {"name": name, "low": base.low, "high": base.high,
                              "log": base.log, "choices": base.choices, "grid": base.grid}
    if "choices" in table:
        both = sorted({"low", "high", "log"} & set(table))
        if both:
            raise ValueError(f"space file {where!r}: {name} has choices and {', '.join(both)}; "
                             "give either choices or a range")
        fields["choices"] = _choices(name, table["choices"], where)
    elif base.choices is not None and ({"low", "high", "log"} & set(table)):
        raise ValueError(f"space file {where!r}: {name} is categorical; give choices = [...]")
    for key in ("low", "high"):
        if key in table:
            v = table[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"space file {where!r}: {name}.{key} must be a number; "
                                 f"got {v!r}")
            fields[key] = float(v)
    if "log" in table:
        if not isinstance(table["log"], bool):
            raise ValueError(f"space file {where!r}: {name}.log must be true or false; "
                             f"got {table['log']!r}")
        fields["log"] = table["log"]
    if fields["choices"] is None:
        lo, hi, high_open = _LIMITS[name]
        bracket = ")" if high_open else "]"
        for key in ("low", "high"):
            v = fields[key]
            if not (lo <= v and (v < hi if high_open else v <= hi)):
                raise ValueError(f"space file {where!r}: {name}.{key} must be in "
                                 f"[{lo:g}, {hi:g}{bracket}; got {v:g}")
        if fields["low"] > fields["high"]:
            raise ValueError(f"space file {where!r}: {name}.low must be <= {name}.high; "
                             f"got {fields['low']:g} > {fields['high']:g}")
        if fields["log"] and fields["low"] <= 0:
            raise ValueError(f"space file {where!r}: {name}.low must be > 0 with log = true; "
                             f"got {fields['low']:g}")
    if "grid" in table:
        grid = table["grid"]
        if not isinstance(grid, list) or not grid:
            raise ValueError(f"space file {where!r}: {name}.grid must be a non-empty list; "
                             f"got {grid!r}")
        for g in grid:
            inside = (g in fields["choices"] if fields["choices"] is not None
                      else isinstance(g, (int, float)) and not isinstance(g, bool)
                      and fields["low"] <= g <= fields["high"])
            if not inside:
                raise ValueError(f"space file {where!r}: {name}.grid values must lie in the "
                                 f"range or choices; got {g!r}")
        fields["grid"] = tuple(grid)
    return ParamSpec(**fields)
