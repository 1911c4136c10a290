"""The content-addressed store: blobs kept once per content under ``cas/<sha256>``."""
