"""What an app instance holds: settings, plugin manager, database and storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import peewee
import pluggy
from flask import Flask, current_app

from core.config import Settings
from storage_drivers.base import StorageDriver

if TYPE_CHECKING:
    from core.attachments.entities import AttachableEntity


@dataclass
class PartsbinState:
    """The per-app services, kept in ``app.extensions["partsbin"]``."""

    settings: Settings
    plugin_manager: pluggy.PluginManager
    database: peewee.Database
    storage: StorageDriver
    #: ``storage`` behind the local read-through cache, when one is configured: for serving
    #: immutable blobs and thumbnails only, never to decide whether a blob exists (see
    #: :class:`storage_drivers.cache.CachingDriver`). ``None``: serve from ``storage``.
    read_storage: StorageDriver | None = field(default=None)
    entities: dict[str, AttachableEntity] | None = field(default=None)


def get_state(app: Flask | None = None) -> PartsbinState:
    """The state of ``app`` (default: the current app)."""
    return (app or current_app).extensions["partsbin"]
