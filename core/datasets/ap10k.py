"""AP-10K (Yu et al., 2021) keypoint pairs, from its COCO-style annotation files.

Layout::

    ap-10k/annotations/ap10k-{train,val,test}-split{1,2,3}.json   (or any COCO-style *.json)
    ap-10k/data/{image}.jpg

Every category is a species with a ``supercategory`` = family (e.g. jaguar / Felidae), all sharing
the same 17 named keypoints. Pair kinds (the benchmark of Zhang et al., "Telling left from right"):

* ``intra-species``: two instances of the same species; pair category = the species.
* ``cross-species``: different species of the same family; pair category = the family.
* ``cross-family``: different families; pair category = "src_family/trg_family" (sorted for
  unordered pairs).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from ..errors import DatasetError
from .mmpose_coco import CocoInstance, CocoKeypointPairs

PairKind = Literal["intra-species", "cross-species", "cross-family", "all"]
PAIR_KINDS: tuple[str, ...] = ("intra-species", "cross-species", "cross-family", "all")
DEFAULT_ANNOTATIONS = ("ap10k-test-split1.json", "test_ap10k.json")


def pair_kind(a: CocoInstance, b: CocoInstance) -> str:
    """'intra-species', 'cross-species' (same family) or 'cross-family'."""
    if a.category == b.category:
        return "intra-species"
    return "cross-species" if a.family == b.family else "cross-family"


class AP10KDataset(CocoKeypointPairs):
    """AP-10K pairs of one kind. ``root`` is ``ap-10k`` (holding annotations/ and data/) or its parent."""

    name = "ap10k"

    def __init__(self, root: str | Path, kind: PairKind = "intra-species", annotation: str | None = None,
                 categories: str | Sequence[str] | None = None, ordered: bool = False,
                 require_images: bool = True) -> None:
        if kind not in PAIR_KINDS:
            raise ValueError(f"unknown AP-10K pair kind {kind!r}; choose one of {', '.join(PAIR_KINDS)}")
        self.kind = kind
        base = Path(root)
        if (base / "ap-10k").is_dir():
            base = base / "ap-10k"
        ann_dir = base / "annotations"
        if not ann_dir.is_dir():
            raise DatasetError(f"{self.name}: expected the folder annotations at {ann_dir}")
        if not (base / "data").is_dir():
            raise DatasetError(f"{self.name}: expected the image folder data at {base / 'data'}")
        if annotation is None:
            found = [n for n in DEFAULT_ANNOTATIONS if (ann_dir / n).is_file()]
            jsons = sorted(p.name for p in ann_dir.glob("*.json"))
            if found:
                annotation = found[0]
            elif len(jsons) == 1:
                annotation = jsons[0]
            else:
                raise DatasetError(f"{self.name}: cannot pick an annotation file in {ann_dir} "
                                   f"(found {len(jsons)}); pass annotation=...")
        super().__init__(base, annotation=f"annotations/{annotation}", image_dir="data",
                         categories=categories, ordered=ordered, require_images=require_images)

    def _build_pairs(self) -> None:
        group = sorted(self.instances, key=lambda i: (i.family, i.category, i.ann_id))
        for a, b in self._pairs_of(group):
            k = pair_kind(a, b)
            if self.kind != "all" and k != self.kind:
                continue
            if k == "intra-species":
                cat = a.category
            elif k == "cross-species":
                cat = a.family
            else:
                fam = (a.family, b.family) if self.ordered else tuple(sorted((a.family, b.family)))
                cat = f"{fam[0]}/{fam[1]}"
            self._emit(a, b, cat, {"pair_kind": k})
