"""The parts plugin: part types (``/api/types``) and parts (``/api/parts``), each part owning one
AttachmentSet. Kit usage and stock come from other plugins through hooks."""
