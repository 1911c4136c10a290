"""Serving a built single-page UI (``PARTSBIN_UI_DIR``) at ``/``, on the API's origin.

* A file of the bundle is served as it is (``Content-Type`` from its name, ``nosniff``);
  ``assets/`` files carry content hashes in their names and are cached forever (``immutable``),
  everything else (``index.html``, ``version.json``, the favicon) is ``no-cache``.
* Any other path outside ``/api`` and ``/health`` answers ``index.html`` (the UI routes in the
  browser); a missing file under ``assets/`` is a 404, never the page.
* UI responses carry a Content-Security-Policy the bundle works under (scripts, styles, workers,
  frames and connections from our origin only; images also as ``data:``/``blob:`` and from any
  web site, because the UI shows a URL's preview image and seller logos from where they are),
  ``frame-ancestors 'self'``, ``nosniff`` and a referrer policy.

Paths are resolved with :func:`werkzeug.security.safe_join`, so nothing outside the folder is
reachable. The folder is checked at start-up (it must hold ``index.html``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from flask import Flask, Response, send_file
from werkzeug.routing import BaseConverter
from werkzeug.security import safe_join

from core.auth.roles import public
from core.config import ConfigError
from core.errors import NotFound

log = logging.getLogger("partsbin.ui")

#: ``Cache-Control`` of content-hashed files under ``assets/``.
IMMUTABLE = "public, max-age=31536000, immutable"
#: ``Cache-Control`` of ``index.html`` and the bundle's other files (always revalidated).
NO_CACHE = "no-cache"
#: The UI's Content-Security-Policy.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob: https: http:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self'",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_ASSETS = "assets/"


class UiPathConverter(BaseConverter):
    """A path that is not the API's or the probes' (so unknown ``/api`` URLs stay JSON 404s
    and keep their 405s)."""

    regex = r"(?!(?:api|health)(?:/|$))[^\x00]*"
    weight = 500  # below every other rule


class UiBundleError(ConfigError):
    """``PARTSBIN_UI_DIR`` does not name a built UI."""


def check_ui_dir(ui_dir: Path) -> Path:
    """The resolved folder; raises :class:`UiBundleError` if it has no ``index.html``."""
    folder = ui_dir.expanduser().resolve()
    if not (folder / "index.html").is_file():
        raise UiBundleError(f"PARTSBIN_UI_DIR {ui_dir} has no index.html (not a built UI)")
    return folder


def bundle_version(ui_dir: Path | None) -> str | None:
    """The ``version`` in the bundle's ``version.json``, or ``None`` (no UI, no file, no
    version)."""
    if ui_dir is None:
        return None
    try:
        data = json.loads((ui_dir / "version.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return str(version) if version else None


def init_app(app: Flask, ui_dir: Path) -> None:
    """Serve the bundle in ``ui_dir`` at ``/`` (see the module docstring)."""
    folder = check_ui_dir(ui_dir)
    app.url_map.converters["uipath"] = UiPathConverter

    @public  # the page must load before anyone signs in: the UI then asks /api/auth/self
    def serve(path: str = "") -> Response:
        return _serve(folder, path)

    app.add_url_rule("/", "ui_index", serve, methods=["GET", "HEAD"])
    app.add_url_rule("/<uipath:path>", "ui_file", serve, methods=["GET", "HEAD"])


def _serve(folder: Path, path: str) -> Response:
    target = safe_join(str(folder), path) if path else None
    if target is not None and Path(target).is_file():
        response = send_file(target, conditional=True, etag=True, max_age=None)
        immutable = path.startswith(_ASSETS)
        response.headers["Cache-Control"] = IMMUTABLE if immutable else NO_CACHE
    elif path.startswith(_ASSETS):
        raise NotFound(f"no such UI asset: {path}", {"path": path})
    else:
        response = send_file(folder / "index.html", conditional=True, etag=True, max_age=None)
        response.headers["Cache-Control"] = NO_CACHE
    response.headers.update(SECURITY_HEADERS)
    return response
