"""Browse a DIY-SC pseudo-label store on its image pairs (the 2-D view; issue 15's method outputs).

Opening a label store (``corrviz-train diy_sc labels --out FILE.safetensors``) shows its first pair's two
images with the pair's pseudo-labels drawn as green lines over them; *View > Next / Previous pseudo-label
pair* (Ctrl+] / Ctrl+[) steps through the pairs. The status bar says which pair, how many labels and how
the store was made (backbone, filter, stage counts); the image titles name the pair and its label count. Opening other images clears the overlay. Clicking
still matches points as usual, on top of the labels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .render_state import DrawLine

LABEL_RGB = (60, 220, 90)


def is_label_store(path: str) -> bool:
    """True for a safetensors file carrying DIY-SC label metadata (read from the header only)."""
    if Path(path).suffix.lower() != ".safetensors" or not Path(path).is_file():
        return False
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            return "corrviz_labels" in (fh.metadata() or {})
    except Exception:  # noqa: BLE001 - unreadable: not a label store (the checkpoint path reports it)
        return False


def label_lines(pair: Any) -> list[DrawLine]:
    return [DrawLine(0, float(s[0]), float(s[1]), 1, float(t[0]), float(t[1]), LABEL_RGB)
            for s, t in zip(pair.src_xy, pair.trg_xy, strict=True)]


def store_summary(store: Any) -> str:
    p = store.meta.get("provenance", {})
    counts = store.meta.get("report", {}).get("tracks_per_stage", {})
    stages = ", ".join(f"{k} {v}" for k, v in counts.items())
    return (f"{store.path.name}: {p.get('backbone', '?')} at {p.get('resolution', '?')} px, filter "
            f"{p.get('filter', '?')}, {len(store.pairs)} pairs" + (f" (tracks per stage: {stages})" if stages else ""))


class LabelBrowser:
    """The label store shown in the 2-D view and the pair on screen."""

    def __init__(self, ctx: Any, annotations: Any) -> None:
        self.ctx, self.annotations = ctx, annotations
        self.store: Any = None
        self.index = -1
        self.info = ""  # what the status bar said about the pair on screen

    def open(self, path: str) -> None:
        from corrviz.training.methods.diy_sc_labels import load_labels

        def done(store: Any, _s: float) -> None:
            self.store = store
            self.show(0)

        self.ctx.show_status(f"Loading pseudo-labels {Path(path).name}…")
        self.ctx.runner.submit("labels", lambda _p: load_labels(path), on_result=done,
                               on_error=lambda e: self.ctx.report_error(e, "Cannot open the pseudo-label store"))

    def step(self, delta: int) -> None:
        if self.store is not None:
            self.show((self.index + delta) % len(self.store.pairs))

    def show(self, k: int) -> None:
        store, pair = self.store, self.store.pairs[k]
        a, b = store.images[pair.src], store.images[pair.trg]
        n = len(store.pairs)
        names = [f"label pair {k + 1}/{n}: {a.instance} bin {a.azimuth}",
                 f"{b.instance} bin {b.azimuth} ({len(pair.src_xy)} labels)"]

        def done() -> None:
            self.store, self.index = store, k
            self.info = (f"pseudo-label pair {k + 1}/{n}: {a.instance} bin {a.azimuth} -> {b.instance} bin "
                         f"{b.azimuth}, {len(pair.src_xy)} labels · {store_summary(store)}")
            self.ctx.show_status(self.info)

        self.annotations.open([str(a.image), str(b.image)], names, label_lines(pair), [], self, done, self._cleared)

    def _cleared(self) -> None:
        self.store, self.index = None, -1  # other images were opened: the labels no longer apply
