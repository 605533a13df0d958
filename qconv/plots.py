"""Plots as PNG or SVG (by the file's suffix) via matplotlib (qconv[eval]): the Pareto plot of a
sweep (quality against estimated cost, every point labelled, the non-dominated ones joined).
"""

from __future__ import annotations

from pathlib import Path

from .errors import QconvError


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise QconvError("plots need matplotlib: pip install 'qconv[eval]'") from None
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    return plt


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: no one has cost <= and quality >= with one of
    them strictly better. In order of cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def pareto_plot(rows: list[dict], path: str | Path, quality: str, cost: str = "lut", title: str = "") -> list[int]:
    """Each `ok` row's `quality` against its `cost` (log scale), labelled by point number; the
    Pareto front joined. Returns the front's point numbers."""
    plt = _pyplot()
    ok = [(i, r) for i, r in enumerate(rows) if r.get("status") == "ok" and r.get(quality) is not None]
    if not ok:
        raise QconvError(f"no point has a {quality} to plot")
    xy = [(float(r[cost]), float(r[quality])) for _, r in ok]
    front = pareto_front(xy)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    fits = [r.get("fits", True) for _, r in ok]
    for flag, marker, label in ((True, "o", "fits the part"), (False, "x", "does not fit the part")):
        sel = [k for k, f in enumerate(fits) if bool(f) == flag]
        if sel:
            ax.scatter([xy[k][0] for k in sel], [xy[k][1] for k in sel], marker=marker, color="tab:blue",
                       label=label, zorder=3)
    ax.plot([xy[k][0] for k in front], [xy[k][1] for k in front], color="tab:orange", lw=1.5,
            label="Pareto front", zorder=2)
    for k, (i, _) in enumerate(ok):
        ax.annotate(str(i), xy[k], textcoords="offset points", xytext=(4, 3), fontsize=8)
    ax.set_xscale("log" if min(x for x, _ in xy) > 0 else "linear")
    ax.set_xlabel(f"{cost.upper()} (qconv's estimate, design/cost.py; not synthesis)")
    ax.set_ylabel(quality.replace("_", " "))
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return [ok[k][0] for k in front]
