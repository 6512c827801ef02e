"""``python -m corrviz.app [FILES...]``."""

import sys

from .main import main

sys.exit(main())
