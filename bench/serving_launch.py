"""Starts ``partsbin serve``'s gunicorn with another worker class, for ``bench.serving``.

``python -m bench.serving_launch VARIANT``; the ``PARTSBIN_*`` settings come from the
environment like for ``partsbin serve``. Variants (see :data:`VARIANTS`):

* ``serve``: exactly what ``partsbin serve`` runs (uvicorn with httptools and uvloop, the ASGI
  front and its WSGI bridge);
* ``serve-copy``: the same without the protocol's send additions (files read and copied,
  headers written apart from the body);
* ``gthread``: gunicorn's gthread worker on the plain Flask app (``LingeringClose`` around it),
  what ``partsbin serve`` ran before live events (no event streams on a loop, ``sendfile``);
* ``uvicorn-h11``: the same front on h11 and the asyncio loop; ``uvicorn-httptools``: httptools
  on the asyncio loop (to tell the parser's and the loop's shares apart);
* ``uvicorn-h11-a2wsgi``: h11, asyncio and a2wsgi instead of the bridge: what ``partsbin
  serve`` ran from live events until the bridge (needs ``pip install a2wsgi``, no longer a
  dependency).
"""

from __future__ import annotations

import sys
from typing import Any

from core.events.worker import LimitedHttpToolsProtocol, PartsbinWorker


class _CopyingProtocol(LimitedHttpToolsProtocol):
    cycle_send = False


class CopyingWorker(PartsbinWorker):
    CONFIG_KWARGS = {**PartsbinWorker.CONFIG_KWARGS, "http": _CopyingProtocol}


class H11Worker(PartsbinWorker):
    CONFIG_KWARGS = {
        **PartsbinWorker.CONFIG_KWARGS,
        "http": "h11",
        "loop": "asyncio",
        "h11_max_incomplete_event_size": 16 * 1024,
    }


class H11UvloopWorker(PartsbinWorker):
    CONFIG_KWARGS = {**PartsbinWorker.CONFIG_KWARGS, "http": "h11", "loop": "uvloop"}


class HttptoolsWorker(PartsbinWorker):
    CONFIG_KWARGS = {**PartsbinWorker.CONFIG_KWARGS, "loop": "asyncio"}


#: variant -> (gunicorn worker class, whether the app is the ASGI front)
VARIANTS: dict[str, tuple[str, bool]] = {
    "serve": ("", True),
    "serve-copy": ("bench.serving_launch.CopyingWorker", True),
    "gthread": ("gthread", False),
    "uvicorn-h11": ("bench.serving_launch.H11Worker", True),
    "uvicorn-h11-uvloop": ("bench.serving_launch.H11UvloopWorker", True),
    "uvicorn-httptools": ("bench.serving_launch.HttptoolsWorker", True),
    "uvicorn-h11-a2wsgi": ("bench.serving_launch.H11Worker", True),
}


def main(variant: str) -> None:
    """Serve like :func:`core.serve.serve` with ``variant``'s worker (blocks until stopped)."""
    import os

    from core.api.health import MASTER_PID_VARIABLE
    from core.config import load_settings
    from core.serve import PartsbinServer, serve_options

    worker_class, asgi = VARIANTS[variant]
    settings = load_settings()
    options = serve_options(
        settings.host, settings.port, settings.workers, settings.threads, settings.log_level
    )
    if worker_class:
        options["worker_class"] = worker_class
    os.environ[MASTER_PID_VARIABLE] = str(os.getpid())

    class Server(PartsbinServer):
        def load(self) -> Any:
            if asgi and variant.endswith("-a2wsgi"):
                return _a2wsgi_front(self.request_threads)
            if asgi:
                return super().load()
            from core.app import create_app
            from core.lingering import LingeringClose

            return LingeringClose(create_app())

    Server(options).run()


def _a2wsgi_front(threads: int) -> Any:
    """The ASGI front with a2wsgi's WSGIMiddleware instead of the bridge (needs a2wsgi)."""
    from a2wsgi import WSGIMiddleware

    from core.app import create_app
    from core.events.asgi import PartsbinAsgi
    from core.lingering import LingeringClose

    front = PartsbinAsgi(create_app(), threads=threads, middleware=LingeringClose)
    inner = LingeringClose(front.flask_app)

    def terminated(environ: dict[str, Any], start_response: Any) -> Any:
        environ["wsgi.input_terminated"] = True
        return inner(environ, start_response)

    front.wsgi = WSGIMiddleware(terminated, workers=threads)  # type: ignore[assignment]
    return front


if __name__ == "__main__":
    main(sys.argv[1])
