"""The inventory plugin: numbered boxes of numbered locations, the stock of each part per location,
and the history of every change. Boxes own attachment sets; stock answers the parts plugin's
hooks (``total_quantity``, ``include=locations``, kit availability, deletion blockers)."""
