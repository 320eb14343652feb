"""The store's lock file (``cmsync.lock``): one process per store, and a lock that cannot be
made is said in one line naming the file, never as a traceback of ``os.open``."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmsync.errors import FatalError
from cmsync.lock import LockUnavailableError, StoreLockedError, exclusive


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    store = tmp_path / "cmsync.db"
    refused = pytest.raises(StoreLockedError, match=r"another cmsync process \(pid \d+\)")
    with exclusive(store), refused, exclusive(store):
        pass
    with exclusive(store):  # released when the first holder left
        pass


def test_a_lock_file_that_cannot_be_made_names_the_file_and_the_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's directory should be\n")
    store = blocker / "cmsync.db"
    with pytest.raises(LockUnavailableError) as raised, exclusive(store):
        pytest.fail("the lock was taken under a regular file")
    message = str(raised.value)
    assert isinstance(raised.value, FatalError)  # `run` and `once` exit 2 with this one line
    assert f"cannot create the lock file {store}.lock" in message
    assert "make its directory writable" in message and "\n" not in message
