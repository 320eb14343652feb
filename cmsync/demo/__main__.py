"""``python -m cmsync.demo``: the demo command on its own (``cmsync demo`` is the same)."""

from __future__ import annotations

import typer

from cmsync.demo import register

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
register(app)

if __name__ == "__main__":
    app()
