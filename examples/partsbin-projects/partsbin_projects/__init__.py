"""partsbin-projects: an example third-party Partsbin plugin.

It adds a third attachable entity type, ``project`` (a maker's project), next to the built-in
parts and kits, using only the public hooks (:mod:`core.hookspecs`) and the core's public service
functions. Modules, from the top layer down:

- :mod:`partsbin_projects.plugin` -- the hook implementations (the ``partsbin`` entry point);
- :mod:`partsbin_projects.api` -- ``/api/projects`` routes and their pydantic schemas;
- :mod:`partsbin_projects.service` -- the rules and transactions (``PROJECT_ENTITY``);
- :mod:`partsbin_projects.models` -- the Peewee model of the ``projects`` table;
- ``partsbin_projects/migrations/`` -- peewee-migrate files, history table
  ``migratehistory_projects``.
"""
