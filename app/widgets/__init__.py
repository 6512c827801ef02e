"""Views of the corrviz app. They draw what they are given and emit what the user asked for.

pyqtgraph's image axis order is pinned here, once, to row-major (arrays are (H, W, ...), as
everywhere in corrviz); every ImageItem also passes it explicitly.
"""

import pyqtgraph as pg

IMAGE_AXIS_ORDER = "row-major"
pg.setConfigOptions(imageAxisOrder=IMAGE_AXIS_ORDER, antialias=True)
