"""corrviz desktop app (PyQt6). A thin view over :mod:`corrviz.core`."""
