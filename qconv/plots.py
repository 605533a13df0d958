"""Plots as PNG or SVG (by the file's suffix) via matplotlib (qconv[eval]): the Pareto plot of a
sweep (quality against estimated cost, every point labelled, the non-dominated ones joined) and
the per-layer profile of a dataset (observed magnitudes against each layer's type range, as
hls4ml's profiling plots show them).
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


def _save(fig, path: str | Path) -> None:
    """Write and close the figure; the same plot gives the same bytes (an SVG without its date and
    with ids from a fixed salt: matplotlib's defaults differ on every run)."""
    plt = _pyplot()
    svg = Path(path).suffix.lower() == ".svg"
    with plt.rc_context({"svg.hashsalt": "qconv"}):
        fig.savefig(path, metadata={"Date": None} if svg else None)
    plt.close(fig)


def check_output(path: str | Path) -> None:
    """Refuse, before any work is done, a plot file that cannot be written: a suffix other than
    .png or .svg, or no matplotlib."""
    if Path(path).suffix.lower() not in (".png", ".svg"):
        raise QconvError(f"{path}: plots are written as .png or .svg; give the file one of those suffixes")
    _pyplot()


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
    ok = [(r.get("point", i), r) for i, r in enumerate(rows)  # a table's own point numbers, if it has them
          if r.get("status") == "ok" and r.get(quality) is not None and r.get(cost) is not None]
    if not ok:
        raise QconvError(f"no point has {'an' if quality[0] in 'aeiou' else 'a'} {quality} to plot (a sweep run with "
                         "--labels has accuracy; one with a float reference, agreement)")
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
    _save(fig, path)
    return [ok[k][0] for k in front]


def _quantile_bin(hist: list[int], q: float) -> int:
    """The bin holding the q-quantile of the nonzero values (bins 1..)."""
    nonzero = hist[1:]
    target, seen = q * sum(nonzero), 0
    for k, c in enumerate(nonzero, start=1):
        seen += c
        if c and seen >= target:
            return k
    return len(hist) - 1


def profile_plot(rows: list[dict], path: str | Path, title: str = "") -> None:
    """One row per layer on a log2 magnitude axis: the type's range (grey: from its LSB 2^-F to
    2^I, the top of the highest power-of-two bin its values can fall in), and the magnitudes
    observed over the dataset (blue whiskers from the smallest to the largest nonzero value's power
    of two, box from the 25th to the 75th percentile, tick at the median); zeros and overflowed
    values noted on the right."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(rows) + 1.4), dpi=120)
    for y, r in enumerate(rows):
        f, top = r["frac"], r["width"] - r["frac"]  # every bin a value of the type can fall in
        ax.barh(y, top + f, left=-f, height=0.7, color="0.85", zorder=1)
        hist = r["histogram"]
        total = sum(hist)
        if total > hist[0]:
            used = [k for k, c in enumerate(hist) if c and k]
            lo, hi = used[0] - 1 - f, used[-1] - f
            q1, med, q3 = (_quantile_bin(hist, q) - f for q in (0.25, 0.5, 0.75))
            ax.plot([lo, hi], [y, y], color="tab:blue", lw=1, zorder=2)
            ax.barh(y, q3 - (q1 - 1), left=q1 - 1, height=0.4, color="tab:blue", zorder=3)
            ax.plot([med - 0.5, med - 0.5], [y - 0.3, y + 0.3], color="white", lw=1.5, zorder=4)
        notes = []
        if hist[0] and hist[0] / total >= 0.0005:
            notes.append(f"{hist[0] / total:.1%} zero")
        if r["overflow"]:
            notes.append(f"{r['overflow']:,} overflowed")
        if notes:
            ax.annotate(", ".join(notes), (1.01, y), xycoords=("axes fraction", "data"), va="center", fontsize=7,
                        color="tab:red" if r["overflow"] else "0.3")
    names = [r["onnx"] if len(r["onnx"]) <= 28 else "…" + r["onnx"][-27:] for r in rows]
    ax.set_yticks(range(len(rows)), [f"{n} ({r['op']}, {r['type']})" for n, r in zip(names, rows)], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("log2 |value|  (grey: the type's range; blue: observed, box 25-75%)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
