"""``corrviz [FILES...]``: open the workbench on the given inputs, or on the built-in demo pair."""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

T_START = time.perf_counter()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="corrviz", description="Explore dense correspondence of vision foundation "
                                 "models: images, a folder, a video, a mesh or a saved session.")
    ap.add_argument("files", nargs="*", help="image files, a folder of images, a video, a mesh or a session .json")
    ap.add_argument("--backbone", help="backbone to start with (default: last used, else the first of "
                    "dinov2_vits14, vit_tiny_patch16_224, dense_sift whose weights are found)")
    ap.add_argument("--no-demo", action="store_true", help="start empty instead of on the demo pair")
    return ap.parse_args(argv)


NO_DISPLAY_HELP = (
    "corrviz: error: {why}, so the desktop app cannot open a window.\n"
    "  On a machine without a screen, run it under a virtual X server:  xvfb-run -a {cmd}\n"
    "  For screenshots with no window at all:  QT_QPA_PLATFORM=offscreen python scripts/screenshots.py OUTDIR\n"
    "  The headless tools need no display: corrviz-match, corrviz-eval, corrviz-data."
)


def display_problem(env: dict[str, str] | None = None, platform: str | None = None) -> str | None:
    """Why Qt could not open a window here (Linux: no reachable X or Wayland display), or None.

    Qt itself aborts with a misleading hint about xcb-cursor in that case; corrviz says what to do.
    A non-window platform (``QT_QPA_PLATFORM=offscreen``, ``minimal``, ``vnc``, ...) needs no display.
    """
    env = dict(os.environ) if env is None else env
    if (platform or sys.platform) != "linux":
        return None
    qpa = env.get("QT_QPA_PLATFORM", "")
    if qpa and not qpa.startswith(("xcb", "wayland")):
        return None
    if env.get("WAYLAND_DISPLAY"):
        return None
    display = env.get("DISPLAY", "")
    if not display:
        return "no display found (DISPLAY and WAYLAND_DISPLAY are not set)"
    host, _, rest = display.partition(":")
    number = rest.split(".")[0]
    if not host and number.isdigit() and not os.path.exists(f"/tmp/.X11-unix/X{number}"):
        return f"DISPLAY={display} names no running X server (no /tmp/.X11-unix/X{number})"
    return None


def create_app(argv: list[str] | None = None):
    """Build the QApplication, window and controller (used by ``main``, the tests and the scripts)."""
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("corrviz")
    app.setOrganizationName("corrviz")
    from .controller import Controller

    controller = Controller()
    return app, controller


def _install_excepthook(controller) -> None:
    """Unexpected errors in a slot show a message instead of aborting the app."""

    def hook(exc_type, exc, tb) -> None:
        traceback.print_exception(exc_type, exc, tb)
        try:
            controller.report_error(exc)
        except Exception:  # noqa: BLE001
            pass

    sys.excepthook = hook


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    args = parse_args(raw)
    why = display_problem()
    if why is not None:
        print(NO_DISPLAY_HELP.format(why=why, cmd=" ".join(["corrviz", *raw])), file=sys.stderr)
        return 2
    app, controller = create_app(argv)
    _install_excepthook(controller)
    if args.backbone:
        controller.set_start_backbone(args.backbone)
    controller.window.show()
    app.processEvents()
    if os.environ.get("CORRVIZ_PRINT_STARTUP"):  # used by scripts/bench_app.py
        print(f"first window after {time.perf_counter() - T_START:.2f} s", flush=True)
        if os.environ.get("CORRVIZ_PRINT_STARTUP") == "exit":
            controller.shutdown()
            return 0
        if os.environ.get("CORRVIZ_PRINT_STARTUP") == "list":  # then the list and the weight probes
            controller.start()
            code = app.exec()
            controller.shutdown()
            return code
    controller.start()
    if args.files:
        controller.open_paths(args.files)
    elif not args.no_demo:
        controller.open_demo()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
