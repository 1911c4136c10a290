"""Runs the app under gunicorn; each worker builds its own app with :func:`create_app`."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class PartsbinServer(BaseApplication):
    """A gunicorn application whose workers each call ``create_app()``, wrapped in
    :class:`core.lingering.LingeringClose` so early answers (413) reach every client."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from core.app import create_app
        from core.lingering import LingeringClose

        return LingeringClose(create_app())


def serve(host: str, port: int, workers: int, threads: int, log_level: str) -> None:
    """Block serving on ``host:port`` until stopped (SIGTERM/SIGINT stop gracefully)."""
    PartsbinServer(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "timeout": 60,
            "graceful_timeout": 10,
            "keepalive": 5,
            "loglevel": log_level.lower(),
            "accesslog": None,
            "errorlog": "-",
            "limit_request_line": 8190,
            "limit_request_fields": 100,
        }
    ).run()
