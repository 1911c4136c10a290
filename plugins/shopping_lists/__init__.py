"""The shopping lists plugin: lists of parts to buy, grouped by seller, ordered, received into
stock through the inventory plugin, and filled from a kit's shortfall."""
