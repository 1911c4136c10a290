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
    #: What to serve immutable blobs and thumbnails from: ``storage`` behind the local
    #: read-through cache when one is configured (see :class:`storage_drivers.cache.CachingDriver`),
    #: else ``storage`` itself. Never used to decide whether a blob exists.
    read_storage: StorageDriver
    entities: dict[str, AttachableEntity] | None = field(default=None)


def get_state(app: Flask | None = None) -> PartsbinState:
    """The state of ``app`` (default: the current app)."""
    return (app or current_app).extensions["partsbin"]
