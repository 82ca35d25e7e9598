"""Command-line interface: thin argument parsing that calls into the library."""
