"""Report renderers, imported lazily by the report endpoints."""
