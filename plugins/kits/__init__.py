"""The kits plugin: kits (``/api/kits``) listing the parts needed to build them, each kit owning one
AttachmentSet. Answers the parts plugin's ``part_kit_usages`` and ``part_deletion_blockers``."""
