"""The operations package: the `crisis` command line, `crisis up`, `crisis status` and every operator command.

Nothing imports this package; it imports the services it runs and operates.
"""

from services.cli.app import app, main

__all__ = ["app", "main"]
