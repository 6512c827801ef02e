"""Built-in training methods (each registers itself with :func:`corrviz.training.method.register_method`)."""

from . import (
    diy_sc,  # noqa: F401
    mef,  # noqa: F401
    pov,  # noqa: F401
    sph,  # noqa: F401
    vggt_sc,  # noqa: F401
)
