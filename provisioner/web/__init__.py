"""`provision serve`: a read-only web view of the project's environments and runs."""
