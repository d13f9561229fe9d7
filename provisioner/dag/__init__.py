"""Generic DAG algorithms and walking; nothing here knows about infrastructure."""
