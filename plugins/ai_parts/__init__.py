"""The AI parts plugin: EI's AI helpers (analyse a part from text or a photo, clean up a part,
create a part from the analysis) answered "not available on this server", so the UI's AI
dialogs show a clear message instead of failing. Partsbin has no AI service; a plugin that adds
one replaces this one (disable it with ``PARTSBIN_DISABLE_PLUGINS=ai_parts``)."""
