"""The "illegal transition" quarantine kind is kept for old stores only: no code opens such an
entry any more (the lifecycle converges on what ChartMogul reports), and every module doc
that speaks of it says so, rather than describing it as something the sync still produces."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for top in ("cmsync", "state", "tui") for p in (ROOT / top).rglob("*.py"))


def test_no_module_opens_an_illegal_transition_entry() -> None:
    opens = re.compile(r"kind\s*=\s*QuarantineKind\.ILLEGAL_TRANSITION\b")
    assert [p.relative_to(ROOT) for p in SOURCES if opens.search(p.read_text())] == []


def test_module_docs_that_name_the_kind_say_it_is_of_earlier_versions() -> None:
    stale = []
    for path in SOURCES:
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        flat = " ".join(doc.split()).casefold()
        if "illegal transition" in flat and "earlier versions" not in flat:
            stale.append(str(path.relative_to(ROOT)))
    assert stale == []
