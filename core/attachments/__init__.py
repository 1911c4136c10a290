"""The attachment aggregate: AttachmentSets, their attachments, cover rules and owners."""
