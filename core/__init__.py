"""Partsbin core: the app factory (:func:`core.app.create_app`), settings, database, plugin host
and the attachment services."""
