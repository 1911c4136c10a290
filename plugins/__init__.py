"""Built-in Partsbin plugins (parts, kits).

They use only the public hooks (:mod:`core.hookspecs`) and the public core services, exactly as a
third-party plugin would; the core never imports them. ``plugins.parts`` never imports
``plugins.kits``: kits reference parts, not the other way round.
"""
