"""The pick lists plugin: a kit build for N units turned into lines that walk the boxes; picking a
line takes its stock out through the inventory plugin, undoing puts it back."""
