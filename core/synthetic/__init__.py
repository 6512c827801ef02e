"""corrviz's embedded default data: procedural objects and rendered datasets, nothing to download.

* :func:`list_objects` / :func:`make_object` -- geons (box, cylinder, cone, torus, capsule, sphere,
  hemisphere bowl, wedge) and composed objects (chair, mug, car with four wheels, table) with
  procedural textures (checker, stripes, noise, painted parts); deterministic from a seed and
  cached under :func:`cache_dir` (``$CORRVIZ_CACHE``, else ``$XDG_CACHE_HOME/corrviz``, else ``~/.cache/corrviz``).
* :func:`default_dataset` -- N objects x k views rendered on first use and cached.
* :func:`write_view_set` / :func:`load_view_set` -- one view set on disk (exact round trip).
* :func:`demo_pair` -- two rendered views of the car with exact ground-truth correspondences.
* :func:`view_set_record` / :meth:`SyntheticDataset.records` -- records for the evaluation side.
* :mod:`.categories` -- semantic categories (car, airplane, chair, table, lamp, mug, bottle,
  quadruped) whose instances carry named keypoints with left/right twins; :mod:`.keypoints` renders
  them per azimuth bin with depth-test visibility; ``corrviz-data synthetic-spair`` writes a
  synthetic SPair (:mod:`.categories.dataset`).
"""

from ..render.storage import load_point_tracks, load_view_set, write_point_tracks, write_view_set
from .dataset import (
    DEFAULT_OBJECTS,
    SyntheticDataset,
    cache_dir,
    default_dataset,
    demo_pair,
    demo_pair_folder,
    make_object,
    write_dataset,
)
from .objects import GENERATOR_VERSION, build_object, list_objects
from .records import view_set_record

__all__ = [
    "DEFAULT_OBJECTS", "GENERATOR_VERSION", "SyntheticDataset", "build_object", "cache_dir",
    "default_dataset", "demo_pair", "demo_pair_folder", "list_objects", "load_point_tracks", "load_view_set", "make_object",
    "view_set_record", "write_dataset", "write_point_tracks", "write_view_set",
]
