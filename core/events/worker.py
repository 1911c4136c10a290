"""The gunicorn worker of ``partsbin serve``: uvicorn (h11) running :class:`PartsbinAsgi`.

gunicorn still manages the processes (``--workers``, graceful restarts, SIGTERM); each worker
runs one asyncio loop, serves event streams on it and runs every other request in a pool of
``--threads`` threads. On shutdown every open stream is ended first, so the worker stops at once
instead of waiting for clients that would never hang up.
"""

from __future__ import annotations

import sys
from typing import Any

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

#: Largest request line plus headers h11 accepts (gunicorn's parser limits are not used).
MAX_HEAD_BYTES = 16 * 1024


class _Server(Server):
    async def shutdown(self, sockets: Any = None) -> None:
        close = getattr(self.config.app, "close_streams", None)
        if close is not None:
            close()
        await super().shutdown(sockets=sockets)


class PartsbinWorker(UvicornWorker):
    """uvicorn with the h11 parser and the asyncio loop (no optional C dependencies)."""

    CONFIG_KWARGS: dict[str, Any] = {
        "loop": "asyncio",
        "http": "h11",
        "lifespan": "off",
        "timeout_graceful_shutdown": 5,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
        # X-Forwarded-* are judged by the app (PARTSBIN_TRUSTED_PROXIES), never by the server.
        "proxy_headers": False,
    }

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = _Server(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
