"""The window's modules must not import torch: the window appears first, torch loads in a worker."""

from __future__ import annotations

import os
import subprocess
import sys


def test_window_modules_do_not_import_torch():
    code = ("import sys; import corrviz.app.main_window, corrviz.app.controller; "
            "print(sorted(m for m in ('torch', 'corrviz.training.trainer') if m in sys.modules))")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
