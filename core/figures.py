"""Publication figures of matches and feature maps (matplotlib, no GUI backend).

Uses ``matplotlib.figure.Figure`` directly (never pyplot), so it runs headless and never pulls in
a Qt backend. Saving is atomic and the format follows the suffix (PNG, SVG, PDF).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import ConnectionPatch

from .errors import InputMismatchError
from .features import FeatureMap
from .io import atomic_path
from .matching import Matches


def match_colors(n: int) -> np.ndarray:
    """Distinct colours for n matches (cycled HSV)."""
    from matplotlib import colormaps

    cmap = colormaps["hsv"]
    return np.asarray([cmap((i * 0.618034) % 1.0) for i in range(max(n, 1))])


CORRECT_COLOR = "#2ca02c"
WRONG_COLOR = "#d62728"
MASKED_RGB = (0.5, 0.5, 0.5)  # PCA panels: pixels outside the image content (padding) in plain grey
FIGURE_FORMATS = (".png", ".svg", ".pdf", ".jpg", ".jpeg")


def pca_panels(maps: Sequence[FeatureMap], content: Sequence[np.ndarray | None] | None = None) -> list[np.ndarray]:
    """Joint-PCA colour images at the original image sizes, padding masked.

    Cells whose anchor lies in canvas padding never enter the fit (their features describe the
    padding). ``content`` optionally gives, per image, an (H, W) bool mask of the pixels that are
    real content (e.g. not the fill border of a warped image): the PCA is fitted on the cells
    inside it and the pixels outside it are drawn grey instead of in padding colours.
    """
    from .pca import fit_joint_pca, joint_pca_rgb, upsample_rgb
    from .transforms import mask_to_grid

    content = list(content) if content is not None else [None] * len(maps)
    fitted = []
    for fm, c in zip(maps, content, strict=True):
        cells = fm.transform.content_mask()
        if c is not None:
            cells = cells & mask_to_grid(c, fm.transform, threshold=0.5)
        fitted.append(dataclasses.replace(fm, mask=cells))
    pca = fit_joint_pca(fitted, 3, foreground_only=True)
    rgb = joint_pca_rgb(maps, pca=pca)  # every cell coloured; only the fit is restricted
    out = []
    for fm, c, grid_rgb in zip(fitted, content, rgb, strict=True):
        img = upsample_rgb(grid_rgb, fm)
        if c is not None:
            img[~np.asarray(c, bool)] = (np.asarray(MASKED_RGB) * 255).astype(np.uint8)
        out.append(img)
    return out


def match_figure(src: np.ndarray, trg: np.ndarray, matches: Matches, pca: Sequence[np.ndarray] | None = None,
                 correct: np.ndarray | None = None, title: str = "", max_lines: int = 150,
                 note: str | None = None, alpha: float | None = None) -> Figure:
    """Two images with match lines and optional PCA maps below.

    With ``correct`` the lines are green (prediction within ``alpha`` x max(W, H) of the target image
    of the true match) or red (wrong), explained by a legend; ``note`` (e.g. the PCK) is printed in
    the figure.
    """
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
        c = colors[k] if correct is None else (CORRECT_COLOR if correct[i] else WRONG_COLOR)
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
    if correct is not None:
        from matplotlib.lines import Line2D

        within = f"within {alpha:g} of the image size" if alpha is not None else "correct"
        n_ok = int(np.count_nonzero(np.asarray(correct)[keep]))
        handles = [Line2D([], [], color=CORRECT_COLOR, marker="o", ms=4,
                          label=f"correct ({n_ok}): {within} (max(W, H) of the target) of the true match"),
                   Line2D([], [], color=WRONG_COLOR, marker="o", ms=4, label=f"wrong ({len(keep) - n_ok})")]
        fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8, frameon=False,
                   title=note, title_fontsize=9)
    elif note:
        fig.supxlabel(note, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def check_figure_path(path: str | os.PathLike) -> Path:
    """The figure path if its suffix is a format :func:`save_figure` writes; InputMismatchError otherwise."""
    target = Path(path)
    if target.suffix.lower() not in FIGURE_FORMATS:
        raise InputMismatchError(f"{target}: unsupported figure format {target.suffix!r} (use .png, .svg or .pdf)")
    return target


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Write a figure atomically; the format follows the suffix (.png, .svg, .pdf)."""
    target = check_figure_path(path)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=dpi, format=target.suffix.lower().lstrip("."))
    return target
