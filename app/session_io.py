"""Session files: a JSON record of the inputs, settings and clicked points, reopened as they were."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from corrviz.core.errors import CorrvizError
from corrviz.core.io import write_json
from corrviz.core.session import MATCH_METHODS, ExtractionOptions, QueryPoint, Session

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
    """Read and check a session file; every problem is a :class:`SessionFileError` naming the file."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SessionFileError(f"{p}: session file does not exist") from None
    except json.JSONDecodeError as exc:
        raise SessionFileError(f"{p}: malformed session file: invalid JSON at line {exc.lineno}, column "
                               f"{exc.colno} ({exc.msg})") from None
    except UnicodeDecodeError:
        raise SessionFileError(f"{p}: malformed session file: not UTF-8 text") from None
    except OSError as exc:
        raise SessionFileError(f"{p}: cannot read the session file ({exc.strerror or exc})") from None
    if not isinstance(data, dict) or data.get("format") != SESSION_FORMAT:
        raise SessionFileError(f"{p}: not a corrviz session file (no \"format\": \"{SESSION_FORMAT}\")")
    if not isinstance(data.get("version", SESSION_VERSION), int) or data.get("version", 1) > SESSION_VERSION:
        raise SessionFileError(f"{p}: session format version {data.get('version')!r} is newer than this corrviz "
                               f"reads ({SESSION_VERSION}); update corrviz")
    problems = _field_problems(data)
    if problems:
        raise SessionFileError(f"{p}: malformed session file: " + "; ".join(problems))
    known = set(SessionFile.__dataclass_fields__)
    rec = SessionFile(**{k: v for k, v in data.items() if k in known})
    files = [rec.video or "", rec.mesh or "", rec.sphere_checkpoint or "", rec.options.get("checkpoint") or "",
             rec.options.get("weights") or ""]
    missing = [s for s in rec.images + files if s and not Path(s).exists()]
    if missing:
        raise SessionFileError(f"{p}: inputs of this session are missing: {', '.join(missing)}")
    return rec


_TYPES: dict[str, tuple[type, ...]] = {
    "images": (list,), "demo": (bool,), "options": (dict,), "method": (str,), "points": (list,),
    "overlay_opacity": (int, float), "foreground_only": (bool,), "dense": (bool,), "video": (str, type(None)),
    "video_step": (int,), "mesh": (str, type(None)), "sphere_checkpoint": (str, type(None)),
    "sphere_alpha": (int, float)}
_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "backbone": (str,), "resolution": (int, type(None)), "canvas": (str,), "layer": (int, type(None)),
    "facet": (str, type(None)), "device": (str,), "checkpoint": (str, type(None)), "weights": (str, type(None))}


def _type_name(types: tuple[type, ...]) -> str:
    return " or ".join("null" if t is type(None) else {"int": "integer", "float": "number", "str": "string",
                                                        "dict": "object", "list": "list", "bool": "true/false"}[
                                                           t.__name__] for t in types)


def _wrong(value: object, types: tuple[type, ...]) -> bool:
    return not isinstance(value, types) or (isinstance(value, bool) and bool not in types)


def _field_problems(data: dict) -> list[str]:
    """What is wrong with the fields of a session record (empty: nothing)."""
    out = [f'"{k}" should be {_type_name(t)}, got {json.dumps(data[k])[:40]}' for k, t in _TYPES.items()
           if k in data and _wrong(data[k], t)]
    if isinstance(data.get("images"), list):
        out += [f'"images"[{i}] should be a file path string' for i, v in enumerate(data["images"])
                if not isinstance(v, str)]
    if isinstance(data.get("options"), dict):
        out += [f'"options.{k}" should be {_type_name(t)}, got {json.dumps(data["options"][k])[:40]}'
                for k, t in _OPTION_TYPES.items() if k in data["options"] and _wrong(data["options"][k], t)]
    for i, pt in enumerate(data.get("points") if isinstance(data.get("points"), list) else []):
        if (not isinstance(pt, dict) or any(_wrong(pt.get(k), (int, float)) for k in ("image", "x", "y"))
                or _wrong(pt["image"], (int,)) or pt["image"] < 0):
            out.append(f'"points"[{i}] should be {{"image": integer, "x": number, "y": number}}, '
                       f"got {json.dumps(pt)[:60]}")
    if isinstance(data.get("method"), str) and data["method"] not in MATCH_METHODS:
        out.append(f'"method" should be one of {", ".join(MATCH_METHODS)}, got {data["method"]!r}')
    return out


def is_session_file(path: str | Path) -> bool:
    """Session files end in ``.json`` (``.corrviz.json`` when saved by corrviz); no image does."""
    return Path(path).suffix.lower() == ".json"
