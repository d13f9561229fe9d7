"""Command-line interface: parses arguments, calls the layers below, renders results."""
