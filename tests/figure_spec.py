"""What a matplotlib figure shows, as plain data: what a golden figure test compares.

Pixels change with matplotlib's version and fonts; the artists (their data, colours, styles and
words) are what the reader sees and what the code decides, so they are what a test pins down.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib import colors

DIGITS = 6  # significant digits kept: the data, not the last ulp of one CPU's arithmetic


LAYOUT = "_golden_tight_layout"  # where a test keeps the arguments fig.tight_layout was given


def describe(fig) -> dict:
    """The figure's size, titles, the layout asked for, and every artist of every axes, in drawing order.

    The layout is what the code asked `tight_layout` for (a test records it under LAYOUT), not the
    positions it computed: those follow the fonts' metrics.
    """
    return {
        "size": _num(list(fig.get_size_inches())),
        "tight_layout": _num_values(getattr(fig, LAYOUT, None)),
        "suptitle": fig._suptitle.get_text() if fig._suptitle else None,
        "suptitle_fontsize": _num(fig._suptitle.get_fontsize()) if fig._suptitle else None,
        "legends": [_legend(legend) for legend in fig.legends],
        "axes": [_axes(ax) for ax in fig.axes],
    }


def _axes(ax) -> dict:
    return {
        "grid": [int(n) for n in ax.get_subplotspec().get_geometry()],  # rows, columns, first and last cell
        "title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
        "xlim": _num(list(ax.get_xlim())), "ylim": _num(list(ax.get_ylim())),
        "xticks": _num(list(ax.get_xticks())), "xticklabels": [t.get_text() for t in ax.get_xticklabels()],
        "xticklabel_style": sorted({(t.get_rotation(), t.get_ha(), t.get_fontsize()) for t in ax.get_xticklabels()}),
        "lines": [_line(line) for line in ax.get_lines()],
        "collections": [_collection(c) for c in ax.collections],
        "patches": [_patch(p) for p in ax.patches],
        "legend": _legend(ax.get_legend()) if ax.get_legend() else None,
    }


def _line(line) -> dict:
    return {"label": line.get_label(), "color": colors.to_hex(line.get_color(), keep_alpha=False),
            "alpha": line.get_alpha(), "linestyle": str(line.get_linestyle()), "linewidth": _num(line.get_linewidth()),
            "dashes": _num([line._dash_pattern[0], list(line._dash_pattern[1] or [])]),
            "marker": str(line.get_marker()), "markersize": _num(line.get_markersize()), "zorder": line.get_zorder(),
            "x": _num(list(np.asarray(line.get_xdata(), dtype=float))),
            "y": _num(list(np.asarray(line.get_ydata(), dtype=float)))}


def _collection(c) -> dict:
    return {"kind": type(c).__name__, "label": c.get_label(), "alpha": c.get_alpha(), "zorder": c.get_zorder(),
            "facecolors": [colors.to_hex(f, keep_alpha=True) for f in c.get_facecolor()],
            "edgecolors": [colors.to_hex(f, keep_alpha=True) for f in c.get_edgecolor()],
            "offsets": _num(np.asarray(c.get_offsets(), dtype=float).tolist()),
            "paths": [_num(p.vertices.tolist()) for p in c.get_paths()] if type(c).__name__ != "PathCollection" else [],
            "markers": len(c.get_paths()),
            "marker_shapes": [_num(p.vertices.tolist()) for p in c.get_paths()] if type(c).__name__ == "PathCollection"
            else []}


def _patch(p) -> dict:
    """A bar (a Rectangle): its corner, size and colour."""
    return {"kind": type(p).__name__, "xy": _num(list(p.get_xy())), "width": _num(p.get_width()),
            "height": _num(p.get_height()), "facecolor": colors.to_hex(p.get_facecolor(), keep_alpha=True)}


def _legend(legend) -> dict:
    return {"texts": [t.get_text() for t in legend.get_texts()], "ncols": legend._ncols, "loc": legend._loc,
            "frameon": legend.get_frame_on(),
            "fontsize": _num(legend.get_texts()[0].get_fontsize()) if legend.get_texts() else None}


def _num_values(kwargs: dict | None) -> dict | None:
    return None if kwargs is None else {k: _num(list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}


def _num(value):
    """Numbers rounded to DIGITS significant digits, recursively (None and NaN kept as they are)."""
    if isinstance(value, (list, tuple)):
        return [_num(v) for v in value]
    if value is None or isinstance(value, str):
        return value
    value = float(value)
    if not math.isfinite(value) or value == 0:
        return value if math.isfinite(value) else str(value)
    return round(value, DIGITS - 1 - math.floor(math.log10(abs(value))))


def differences(made, golden, where: str = "") -> list[str]:
    """Where two descriptions differ; numbers compare within a relative 1e-5 (one CPU's last digits)."""
    if isinstance(made, dict) and isinstance(golden, dict):
        out = [f"{where}.{k}: only in {'made' if k in made else 'golden'}" for k in set(made) ^ set(golden)]
        return out + [d for k in made.keys() & golden.keys() for d in differences(made[k], golden[k], f"{where}.{k}")]
    if isinstance(made, list) and isinstance(golden, list):
        if len(made) != len(golden):
            return [f"{where}: {len(made)} items, golden {len(golden)}"]
        pairs = enumerate(zip(made, golden, strict=True))
        return [d for i, (m, g) in pairs for d in differences(m, g, f"{where}[{i}]")]
    numbers = (int, float)
    if isinstance(made, numbers) and isinstance(golden, numbers) and not isinstance(made, bool):
        return [] if math.isclose(made, golden, rel_tol=1e-5, abs_tol=1e-9) else [f"{where}: {made} != {golden}"]
    return [] if made == golden else [f"{where}: {made!r} != {golden!r}"]
