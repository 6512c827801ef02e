"""Views of the corrviz app. They draw what they are given and emit what the user asked for.

pyqtgraph's image axis order is pinned here, once, to row-major (arrays are (H, W, ...), as
everywhere in corrviz); every ImageItem also passes it explicitly.
"""

import pyqtgraph as pg

IMAGE_AXIS_ORDER = "row-major"
pg.setConfigOptions(imageAxisOrder=IMAGE_AXIS_ORDER, antialias=True)


def scroll_contents(page) -> None:  # noqa: ANN001 - a QWidget with a layout
    """Put ``page``'s contents in a scroll area inside it: the page keeps its identity (tabs, tests,
    controllers refer to it), but its minimum size no longer adds up its rows of controls, so a
    page with many controls cannot widen the whole window past a laptop screen; it scrolls instead.
    """
    from PyQt6.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

    inner = QWidget()
    inner.setLayout(page.layout())  # takes the layout from the page and reparents its widgets
    area = QScrollArea(page)
    area.setWidgetResizable(True)  # fills the page whenever the page is large enough
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(inner)
    outer = QVBoxLayout(page)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(area)
