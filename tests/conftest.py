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

from pathlib import Path  # noqa: E402

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
