"""Built-in training methods (each registers itself with :func:`corrviz.training.method.register_method`)."""

from . import mef  # noqa: F401
from . import sph  # noqa: F401
from . import pov  # noqa: F401
