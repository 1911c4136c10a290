"""The sellers plugin: sellers (each owning an attachment set whose cover is the seller's logo)
and seller links from parts to the sellers' product pages."""
