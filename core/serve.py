"""Runs the app under gunicorn; each worker builds its own app with :func:`create_app`.

Workers are :class:`core.events.worker.PartsbinWorker` (uvicorn): event streams run on the
worker's asyncio loop and every other request in a pool of ``threads`` threads, so open streams
never take the threads the API needs (see docs/architecture.md, "Live events").
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class PartsbinServer(BaseApplication):
    """A gunicorn application whose workers each call ``create_app()``, wrapped in
    :class:`core.lingering.LingeringClose` so early answers (413) reach every client."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.request_threads = int(options.get("threads", 4))
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from core.app import create_app
        from core.events.asgi import PartsbinAsgi
        from core.lingering import LingeringClose

        return PartsbinAsgi(create_app(), threads=self.request_threads, middleware=LingeringClose)


def serve_options(
    host: str, port: int, workers: int, threads: int, log_level: str
) -> dict[str, Any]:
    """The gunicorn settings :func:`serve` runs with."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "core.events.worker.PartsbinWorker",
        "timeout": 60,
        "graceful_timeout": 10,
        "keepalive": 5,
        "loglevel": log_level.lower(),
        "accesslog": None,
        "errorlog": "-",
        "limit_request_line": 8190,
        "limit_request_fields": 100,
    }


def serve(host: str, port: int, workers: int, threads: int, log_level: str) -> None:
    """Block serving on ``host:port`` until stopped (SIGTERM/SIGINT stop gracefully; so does
    ``GET /health/drain``, which signals this process)."""
    import os

    from core.api.health import MASTER_PID_VARIABLE

    os.environ[MASTER_PID_VARIABLE] = str(os.getpid())  # the workers inherit it
    PartsbinServer(serve_options(host, port, workers, threads, log_level)).run()
