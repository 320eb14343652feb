"""The store's Alembic revisions (``versions/``) and their environment (``env.py``).

They run only through ``state.schema.prepare``, on the store's own connection inside its write
transaction, which ``prepare`` hands over in ``Config.attributes`` with the store's clock; no
``alembic.ini`` is involved. ``script.py.mako`` is the template for a new revision file.
"""

from __future__ import annotations

from datetime import datetime

from alembic import op

__all__ = ["now"]


def now() -> datetime:
    """The store's clock for this upgrade (the time ``Store.open`` began it)."""
    config = op.get_context().config
    assert config is not None, "revisions run through state.schema.prepare"
    value = config.attributes["now"]
    assert isinstance(value, datetime)
    return value
