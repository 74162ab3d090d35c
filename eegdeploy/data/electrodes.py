"""Electrode names, 10-20 regions and the DEAP 9x9 grid.

The grid places DEAP's 32 electrodes on a 9x9 image the way grid-input models (CCNN, FBCCNN) expect: front at
row 0, left hemisphere on the left. Regions are named sets of 10-20 electrodes used by knowledge-guided recovery
and by the synthetic data generator.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

import numpy as np

from eegdeploy.errors import ConfigError, unknown_name

DEAP_CHANNELS: tuple[str, ...] = (
    "Fp1", "AF3", "F3", "F7", "FC5", "FC1", "C3", "T7", "CP5", "CP1", "P3", "P7", "PO3", "O1", "Oz", "Pz",
    "Fp2", "AF4", "Fz", "F4", "F8", "FC6", "FC2", "Cz", "C4", "T8", "CP6", "CP2", "P4", "P8", "PO4", "O2",
)

# DEAP 9x9 layout: each row lists (column, electrode).
_DEAP_GRID_ROWS: tuple[tuple[tuple[int, str], ...], ...] = (
    ((3, "Fp1"), (5, "Fp2")),
    ((3, "AF3"), (5, "AF4")),
    ((0, "F7"), (2, "F3"), (4, "Fz"), (6, "F4"), (8, "F8")),
    ((1, "FC5"), (3, "FC1"), (5, "FC2"), (7, "FC6")),
    ((0, "T7"), (2, "C3"), (4, "Cz"), (6, "C4"), (8, "T8")),
    ((1, "CP5"), (3, "CP1"), (5, "CP2"), (7, "CP6")),
    ((0, "P7"), (2, "P3"), (4, "Pz"), (6, "P4"), (8, "P8")),
    ((3, "PO3"), (5, "PO4")),
    ((3, "O1"), (4, "Oz"), (5, "O2")),
)
DEAP_GRID: dict[str, tuple[int, int]] = {name: (r, c) for r, row in enumerate(_DEAP_GRID_ROWS) for c, name in row}
GRIDS: dict[str, dict[str, tuple[int, int]]] = {"deap": DEAP_GRID}


def _side(name: str) -> str:
    """'left' for odd-numbered 10-20 names, 'right' for even, 'mid' for z."""
    digits = re.sub(r"\D", "", name)
    if not digits:
        return "mid"
    return "left" if int(digits) % 2 else "right"


def _lobe(name: str) -> str:
    n = name.upper()
    if n.startswith(("FP", "AF")):
        return "prefrontal"
    if n.startswith("FC") or n.startswith("FT"):
        return "frontocentral"
    if n.startswith("F"):
        return "frontal"
    if n.startswith(("CP", "TP")):
        return "centroparietal"
    if n.startswith("C"):
        return "central"
    if n.startswith("T"):
        return "temporal"
    if n.startswith("PO"):
        return "parietooccipital"
    if n.startswith("P"):
        return "parietal"
    if n.startswith(("O", "I")):
        return "occipital"
    return "other"


def _region_test(region: str):
    lobes = {
        "prefrontal": {"prefrontal"},
        "frontal": {"prefrontal", "frontal"},
        "central": {"central", "frontocentral", "centroparietal"},
        "temporal": {"temporal"},
        "parietal": {"parietal", "centroparietal", "parietooccipital"},
        "occipital": {"occipital", "parietooccipital"},
    }
    if region in lobes:
        return lambda n: _lobe(n) in lobes[region]
    if region in ("frontal-left", "frontal-right"):
        side = region.split("-")[1]
        return lambda n: _lobe(n) in lobes["frontal"] and _side(n) == side
    if region in ("left", "right"):
        return lambda n: _side(n) == region
    return None


REGIONS: tuple[str, ...] = ("prefrontal", "frontal", "frontal-left", "frontal-right", "left", "right", "central",
                            "temporal", "parietal", "occipital")


def region_electrodes(region: str | Sequence[str], available: Iterable[str] = DEAP_CHANNELS) -> list[str]:
    """Electrodes of ``available`` in a named region, or in a custom list (``"Fp1,Fp2"`` or a sequence).

    Unknown region names raise ConfigError listing the valid ones; a region with no electrode among
    ``available`` raises too (a silent no-op would hide a mistake).
    """
    avail = list(available)
    lookup = {a.upper(): a for a in avail}
    if isinstance(region, str) and region not in REGIONS and ("," in region or region.upper() in lookup):
        region = [r.strip() for r in region.split(",") if r.strip()]
    if isinstance(region, str):
        test = _region_test(region)
        if test is None:
            raise unknown_name("region", region, REGIONS + ("a comma-separated list of 10-20 names",))
        found = [a for a in avail if test(a)]
        what = f"region {region!r}"
    else:
        unknown = [r for r in region if r.upper() not in lookup]
        if unknown:
            raise ConfigError(f"electrodes {unknown} are not among the input's electrodes",
                              fix=f"use names from: {', '.join(avail)}")
        found = [lookup[r.upper()] for r in region]
        what = f"electrodes {list(region)}"
    if not found:
        raise ConfigError(f"{what} maps to no electrode of this input ({len(avail)} electrodes)",
                          fix="choose a region the input covers, or list electrode names")
    return found


def grid_mask(electrodes: Iterable[str], grid: str = "deap") -> np.ndarray:
    """bool[9, 9]: True at the grid cells of the given electrodes."""
    table = GRIDS[grid]
    upper = {k.upper(): v for k, v in table.items()}
    mask = np.zeros((9, 9), dtype=bool)
    for e in electrodes:
        if e.upper() in upper:
            mask[upper[e.upper()]] = True
    return mask


def to_grid(values: np.ndarray, names: Sequence[str] = DEAP_CHANNELS, grid: str = "deap") -> np.ndarray:
    """Place an electrode axis on the 9x9 grid: ``values`` [..., electrodes, F] -> float32 [..., F, 9, 9], with
    electrode ``names[i]``'s F values at its grid cell and zeros in cells without an electrode. F is whatever
    each electrode carries: band features (DE grids) or raw samples over time (ToGrid of a raw window)."""
    table = GRIDS.get(grid or "deap", DEAP_GRID)
    upper = {k.upper(): v for k, v in table.items()}
    values = np.asarray(values)
    out = np.zeros((*values.shape[:-2], values.shape[-1], 9, 9), dtype=np.float32)
    for i, name in enumerate(names):
        cell = upper.get(name.upper())
        if cell is not None:
            out[..., cell[0], cell[1]] = values[..., i, :]
    return out


def channel_mask(input_spec, electrodes: Iterable[str]) -> np.ndarray:  # input_spec: eegdeploy.config.InputSpec
    """A bool mask over the electrode positions of an input: grid cells for grid inputs, indices for raw ones."""
    names = list(electrodes)
    layout = tuple(input_spec.layout)
    if "grid_row" in layout:
        return grid_mask(names, input_spec.grid or "deap")
    upper = [n.upper() for n in names]
    return np.array([e.upper() in upper for e in input_spec.electrodes], dtype=bool)
