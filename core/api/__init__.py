"""HTTP layer of the core: blueprints and pydantic schemas."""
