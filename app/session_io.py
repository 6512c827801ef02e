"""Session files: a JSON record of the inputs, settings and clicked points, reopened as they were."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from corrviz.core.errors import CorrvizError
from corrviz.core.io import write_json
from corrviz.core.session import ExtractionOptions, QueryPoint, Session

SESSION_FORMAT = "corrviz-session"
SESSION_VERSION = 1
SESSION_SUFFIX = ".corrviz.json"


class SessionFileError(CorrvizError):
    """A session file is unreadable or not a corrviz session."""


@dataclass
class SessionFile:
    images: list[str] = field(default_factory=list)
    demo: bool = False
    options: dict = field(default_factory=dict)
    method: str = "soft-argmax"
    points: list[dict] = field(default_factory=list)
    overlay_opacity: float = 0.5
    foreground_only: bool = False
    dense: bool = False
    video: str | None = None
    video_step: int = 5
    mesh: str | None = None
    sphere_checkpoint: str | None = None
    sphere_alpha: float = 0.2

    def extraction_options(self) -> ExtractionOptions:
        return ExtractionOptions.from_dict(self.options)

    def query_points(self) -> list[QueryPoint]:
        return [QueryPoint(int(p["image"]), float(p["x"]), float(p["y"]), int(p.get("color", k)))
                for k, p in enumerate(self.points)]


def session_record(session: Session) -> SessionFile:
    return SessionFile(
        images=[im.path for im in session.images if im.path], demo=session.is_demo,
        options=session.options.to_dict(), method=session.method,
        points=[{"image": p.image, "x": p.x, "y": p.y, "color": p.color} for p in session.points],
        overlay_opacity=session.overlay_opacity, foreground_only=session.foreground_only,
        dense=session.dense_enabled, video=session.video_path, video_step=session.video_step,
        mesh=session.mesh_path, sphere_checkpoint=session.sphere_checkpoint, sphere_alpha=session.sphere_alpha)


def save_session(path: str | Path, session: Session) -> Path:
    target = Path(path)
    data = {"format": SESSION_FORMAT, "version": SESSION_VERSION, **asdict(session_record(session))}
    write_json(target, data)
    return target


def load_session(path: str | Path) -> SessionFile:
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise SessionFileError(f"{p}: session file does not exist") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SessionFileError(f"{p}: not a readable session file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != SESSION_FORMAT:
        raise SessionFileError(f"{p}: not a corrviz session file (no \"format\": \"{SESSION_FORMAT}\")")
    known = set(SessionFile.__dataclass_fields__)
    rec = SessionFile(**{k: v for k, v in data.items() if k in known})
    missing = [s for s in rec.images + [rec.video or "", rec.mesh or "", rec.sphere_checkpoint or ""]
               if s and not Path(s).exists()]
    if missing:
        raise SessionFileError(f"{p}: inputs of this session are missing: {', '.join(missing)}")
    return rec


def is_session_file(path: str | Path) -> bool:
    return str(path).endswith(SESSION_SUFFIX) or (Path(path).suffix == ".json" and _looks_like_session(path))


def _looks_like_session(path: str | Path) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            return SESSION_FORMAT in fh.read(4096)
    except OSError:
        return False
