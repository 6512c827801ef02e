"""Test-wide environment: offline hub, fresh settings and caches, headless plotting."""

import os
import tempfile

_tmp = tempfile.mkdtemp(prefix="corrviz-tests-")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.pop("CORRVIZ_WEIGHTS", None)
os.environ["CORRVIZ_CONFIG_DIR"] = os.path.join(_tmp, "config")
os.environ["CORRVIZ_CACHE"] = os.path.join(_tmp, "cache")
os.environ["HF_HUB_CACHE"] = os.path.join(_tmp, "hf-empty")
os.environ.setdefault("MPLBACKEND", "Agg")

import atexit  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402


def _start_virtual_display() -> None:
    """GUI tests need an X display (VisPy needs OpenGL): start Xvfb if none is set and it is installed.

    Without Xvfb the GUI tests skip themselves with a reason; everything else runs.
    """
    if os.environ.get("DISPLAY") or not shutil.which("Xvfb"):
        return
    for num in range(90, 110):
        if os.path.exists(f"/tmp/.X11-unix/X{num}") or os.path.exists(f"/tmp/.X{num}-lock"):
            continue
        proc = subprocess.Popen(["Xvfb", f":{num}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(50):
            if os.path.exists(f"/tmp/.X11-unix/X{num}"):
                os.environ["DISPLAY"] = f":{num}"
                atexit.register(proc.terminate)
                return
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        proc.terminate()


_start_virtual_display()

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_DATA = SHARED / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
