"""corrviz engine: backbones, features, matching, metrics, datasets and rendering.

Nothing in this package imports Qt, pyqtgraph or VisPy (an import-linter contract in
pyproject.toml enforces it), so every computation here runs headless.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("corrviz")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
