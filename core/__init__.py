"""Partsbin core: the app factory (:func:`core.app.create_app`), configuration, database, plugin host and attachment services."""
