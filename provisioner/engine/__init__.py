"""The engine: runs plans against backends and reports typed events to a sink."""
