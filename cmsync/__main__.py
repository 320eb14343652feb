"""``python -m cmsync``: the same as the ``cmsync`` console script."""

from cmsync.cli import app

app()
