"""The WSGI target ``bench.granian_app:app`` for :mod:`bench.wsgi_servers` (granian imports it in
its worker; settings come from the ``PARTSBIN_*`` environment)."""

from __future__ import annotations

from core.app import create_app

app = create_app()
