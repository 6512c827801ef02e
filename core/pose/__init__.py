"""One-shot object pose from dense correspondences (seed 000 A.10; ``corrviz-eval pose``).

* :mod:`.views` -- reference views (RGB + z-depth + mask + K + pose) from the renderer or a user
  folder (documented layout).
* :mod:`.database` -- onboarding: features + 3D object points + view ids of every object cell,
  cached on disk (:func:`build_database`).
* :mod:`.estimate` -- dense mutual-NN matching of a query against the database, EPnP in RANSAC
  (8 px) and LM refinement (:func:`estimate_pose`, :func:`solve_pnp`); "no pose" with a reason.
* :mod:`.metrics` -- rotation / translation errors, n cm - n deg accuracy, ADD, ADD-S.
* :mod:`.interactive` -- one query as the app's Pose mode runs it (:func:`~.interactive.run_pose_query`):
  onboarding, estimate, and the outlines / inlier lines that are drawn.
"""

from .database import PoseDatabase, build_database, load_database
from .estimate import PoseEstimate, PoseOptions, estimate_pose, mutual_nn, solve_pnp
from .metrics import (
    CM_DEG_THRESHOLDS,
    PoseErrors,
    add_distance,
    add_s_distance,
    diameter,
    pose_errors,
    rotation_error_deg,
    sample_surface,
    translation_error,
)
from .views import RefView, load_reference_folder, reference_views

__all__ = [
    "CM_DEG_THRESHOLDS", "PoseDatabase", "PoseErrors", "PoseEstimate", "PoseOptions", "RefView", "add_distance",
    "add_s_distance", "build_database", "diameter", "estimate_pose", "load_database", "load_reference_folder",
    "mutual_nn", "pose_errors", "reference_views", "rotation_error_deg", "sample_surface", "solve_pnp",
    "translation_error",
]
