"""BADJA joint annotations over DAVIS frames (Biggs et al., 2018), read unmodified.

Layout::

    BADJA/joint_annotations/{sequence}.json    list of annotated frames, each
        {"image_path": "DAVIS/JPEGImages/Full-Resolution/{seq}/{frame}.jpg",
         "segmentation_path": "DAVIS/Annotations/Full-Resolution/{seq}/{frame}.png",
         "joints": [[row, col], ...], "visibility": [bool, ...]}
    DAVIS/JPEGImages/{480p|Full-Resolution}/{sequence}/{frame}.jpg
    DAVIS/Annotations/480p/{sequence}/{frame}.png          (DAVIS palette masks), or
    DAVIS/Masks_binary_dinotracker/480p/{sequence}/{frame}.png   (binary 0/255 masks)

Facts this loader handles: joints are (ROW, COLUMN) integer pixel indices at FULL resolution
(1920 x 1080 for DAVIS 2017 sequences such as horsejump-high), while the frames used are 480p
(854 x 480). A joint at pixel (r, c) has continuous full-resolution coordinates (c + 0.5, r + 0.5),
scaled per axis by (W_480 / W_full, H_480 / H_full). Invisible joints are stored as [0, 0].

Protocol: PCK@0.2 with the threshold 0.2 * sqrt(area of the object mask in that frame); areas are
counted on the 480p masks, in the same pixels as the scaled joints.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .base import BaseDataset, ClipRecord, image_size_of, matching_filter, require_path

DAVIS_FULL_RESOLUTION = (1920, 1080)
MASK_FOLDERS = ("Annotations", "Masks_binary_dinotracker")
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


def mask_area(path: Path) -> float:
    """Object pixels of a DAVIS mask: palette index > 0, or > 127 for grey-level binary masks."""
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im)
        if im.mode == "P":
            return float(np.count_nonzero(arr > 0))
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=-1)
    return float(np.count_nonzero(arr > 127))


class BadjaDataset(BaseDataset[ClipRecord]):
    """One clip per BADJA sequence whose DAVIS frames are present.

    ``root`` is the BADJA folder (holding ``joint_annotations``) or a folder holding ``BADJA``.
    ``davis_root`` defaults to ``DAVIS`` next to or inside the BADJA folder. ``full_resolution_sizes``
    gives (W, H) of a sequence's full-resolution frames when neither the full-resolution frames
    are present nor the DAVIS default of 1920 x 1080 applies.
    """

    name = "badja"

    def __init__(self, root: str | Path, sequences: str | Sequence[str] | None = None,
                 davis_root: str | Path | None = None, resolution: str = "480p",
                 full_resolution_sizes: dict[str, tuple[int, int]] | None = None) -> None:
        super().__init__(root)
        self.badja_dir = self.root / "BADJA" if (self.root / "BADJA").is_dir() else self.root
        self.ann_dir = require_path(self.badja_dir / "joint_annotations", self.name,
                                    "the annotation folder joint_annotations")
        if davis_root is not None:
            self.davis_root = require_path(Path(davis_root), self.name, "the DAVIS folder")
        else:
            cands = [self.badja_dir / "DAVIS", self.badja_dir.parent / "DAVIS", self.root / "DAVIS"]
            self.davis_root = next((c for c in cands if c.is_dir()), cands[1])
        self.resolution = resolution
        self.sequences = matching_filter(sequences)
        self.full_sizes = dict(full_resolution_sizes or {})
        files = sorted(self.ann_dir.glob("*.json"))
        if not files:
            raise DatasetError(f"{self.name}: no *.json annotation files in {self.ann_dir}")
        for f in files:
            if self.sequences is not None and f.stem not in self.sequences:
                continue
            self._add(f)

    def _full_size(self, seq: str, frame_dir: Path) -> tuple[tuple[int, int], bool]:
        if seq in self.full_sizes:
            return tuple(self.full_sizes[seq]), False  # type: ignore[return-value]
        full_dir = self.davis_root / "JPEGImages" / "Full-Resolution" / seq
        if full_dir.is_dir():
            first = next(iter(sorted(p for p in full_dir.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)), None)
            size = image_size_of(first) if first is not None else None
            if size is not None:
                return size, False
        return DAVIS_FULL_RESOLUTION, True

    def _add(self, ann_path: Path) -> None:
        seq = ann_path.stem
        try:
            entries = json.loads(ann_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            self._skip(seq, f"{ann_path.name} is not valid JSON ({exc})", ann_path)
            return
        if not isinstance(entries, list) or not entries:
            self._skip(seq, f"{ann_path.name} must be a non-empty list of annotated frames", ann_path)
            return
        frame_dir = self.davis_root / "JPEGImages" / self.resolution / seq
        if not frame_dir.is_dir():
            self._skip(seq, f"DAVIS frames missing: folder {frame_dir} does not exist", frame_dir)
            return
        frames = tuple(sorted(p for p in frame_dir.iterdir() if p.suffix.lower() in FRAME_SUFFIXES))
        size = image_size_of(frames[0]) if frames else None
        if size is None:
            self._skip(seq, f"no readable frames in {frame_dir}", frame_dir)
            return
        stems = {p.stem: t for t, p in enumerate(frames)}
        full, assumed = self._full_size(seq, frame_dir)
        scale = np.array([size[0] / full[0], size[1] / full[1]])
        n_joints: int | None = None
        n_t = len(frames)
        points = occluded = annotated = None
        areas = np.full(n_t, np.nan)
        mask_paths: list[Path | None] = [None] * n_t
        problems: list[str] = []
        for k, e in enumerate(entries):
            try:
                joints = np.asarray(e["joints"], dtype=np.float64)
                vis = np.asarray(e["visibility"], dtype=bool)
                stem = Path(str(e["image_path"])).stem
            except (KeyError, TypeError, ValueError) as exc:
                self._skip(seq, f"{ann_path.name} entry {k} malformed ({exc})", ann_path)
                return
            if joints.ndim != 2 or joints.shape[1] != 2 or vis.shape != (len(joints),):
                self._skip(seq, f"{ann_path.name} entry {k}: joints {joints.shape} and visibility "
                                f"{vis.shape} do not agree", ann_path)
                return
            if n_joints is None:
                n_joints = len(joints)
                points = np.zeros((n_joints, n_t, 2))
                occluded = np.ones((n_joints, n_t), dtype=bool)
                annotated = np.zeros((n_joints, n_t), dtype=bool)
            elif len(joints) != n_joints:
                self._skip(seq, f"{ann_path.name} entry {k} has {len(joints)} joints, earlier entries {n_joints}",
                           ann_path)
                return
            if stem not in stems:
                problems.append(f"frame {stem} not in {frame_dir}")
                continue
            t = stems[stem]
            rc = joints[vis]
            if len(rc) and (rc[:, 0].max() >= full[1] or rc[:, 1].max() >= full[0]):
                problems.append(f"frame {stem}: joints outside the assumed {full[0]}x{full[1]} frame")
            xy = np.stack([joints[:, 1] + 0.5, joints[:, 0] + 0.5], axis=1) * scale
            points[:, t] = np.where(vis[:, None], xy, 0.0)  # type: ignore[index]
            occluded[:, t] = ~vis  # type: ignore[index]
            annotated[:, t] = True  # type: ignore[index]
            mpath = self._mask_path(seq, stem)
            if mpath is None:
                problems.append(f"no mask for frame {stem}")
            else:
                mask_paths[t] = mpath
                areas[t] = mask_area(mpath)
        assert points is not None and occluded is not None and annotated is not None
        if problems:
            self._partial(seq, "; ".join(problems))
        self._records.append(ClipRecord(
            clip_id=seq, dataset=self.name, image_size=size, points=points, occluded=occluded,
            annotated=annotated, point_ids=tuple(str(j) for j in range(points.shape[0])),
            frame_paths=frames, threshold="sqrt_mask_area", mask_area=areas, mask_paths=tuple(mask_paths),
            meta={"full_resolution_size": list(full), "full_resolution_size_assumed": assumed,
                  "annotation_file": str(ann_path), "coordinate_order_in_file": "row, column"},
        ))

    def _mask_path(self, seq: str, stem: str) -> Path | None:
        for folder in MASK_FOLDERS:
            p = self.davis_root / folder / self.resolution / seq / f"{stem}.png"
            if p.is_file():
                return p
        return None
