"""Publication figures of matches and feature maps (matplotlib, no GUI backend).

Uses ``matplotlib.figure.Figure`` directly (never pyplot), so it runs headless and never pulls in
a Qt backend. Saving is atomic and the format follows the suffix (PNG, SVG, PDF).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import ConnectionPatch

from .io import atomic_path
from .matching import Matches


def match_colors(n: int) -> np.ndarray:
    """Distinct colours for n matches (cycled HSV)."""
    from matplotlib import colormaps

    cmap = colormaps["hsv"]
    return np.asarray([cmap((i * 0.618034) % 1.0) for i in range(max(n, 1))])


def match_figure(src: np.ndarray, trg: np.ndarray, matches: Matches, pca: tuple[np.ndarray, np.ndarray] | None = None,
                 correct: np.ndarray | None = None, title: str = "", max_lines: int = 150) -> Figure:
    """Two images with match lines (green/red when ``correct`` is given) and optional PCA maps below."""
    rows = 2 if pca is not None else 1
    fig = Figure(figsize=(10, 4.2 * rows), layout="constrained")
    axes = fig.subplots(rows, 2, squeeze=False)
    a0, a1 = axes[0]
    a0.imshow(src)
    a1.imshow(trg)
    keep = np.flatnonzero(matches.valid)
    if len(keep) > max_lines:
        keep = keep[np.linspace(0, len(keep) - 1, max_lines).round().astype(int)]
    colors = match_colors(len(keep))
    for k, i in enumerate(keep):
        c = colors[k] if correct is None else ("#2ca02c" if correct[i] else "#d62728")
        (sx, sy), (tx, ty) = matches.src_xy[i], matches.trg_xy[i]
        fig.add_artist(ConnectionPatch((tx, ty), (sx, sy), "data", "data", axesA=a1, axesB=a0, color=c, lw=0.8,
                                       alpha=0.8))
        a0.plot(sx, sy, "o", ms=3, color=c)
        a1.plot(tx, ty, "o", ms=3, color=c)
    a0.set_title("source")
    a1.set_title("target")
    if pca is not None:
        axes[1][0].imshow(pca[0])
        axes[1][1].imshow(pca[1])
        axes[1][0].set_title("joint PCA (source)")
        axes[1][1].set_title("joint PCA (target)")
    for ax in axes.ravel():
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Write a figure atomically; the format follows the suffix (.png, .svg, .pdf)."""
    target = Path(path)
    if target.suffix.lower() not in (".png", ".svg", ".pdf", ".jpg", ".jpeg"):
        raise ValueError(f"{target}: unsupported figure format {target.suffix!r} (use .png, .svg or .pdf)")
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=dpi, format=target.suffix.lower().lstrip("."))
    return target
