"""``make mutation``'s score: how many of mutmut's mutants of the pure core the unit tests kill.

    python -m bench.mutation [--all]

Reads the results ``mutmut run`` left in ``mutants/`` (the modules and the tests it runs are
in ``[tool.mutmut]`` of pyproject.toml) and prints, per module, killed / counted, where
counted is every mutant less the ones listed in ``EXCLUDED`` below: equivalent mutants (no
input tells them from the original) and those mutmut cannot reach (code run once at import,
before a mutant is chosen). Each surviving counted mutant is printed with its diff, so a
change that lets one live says where; ``--all`` prints the excluded ones too. Exits 1 when a
module kills fewer than ``TARGET`` of its counted mutants, or when an excluded mutant was
killed after all (then it was not equivalent: take it off the list).

An exclusion names the function and the mutated text, not mutmut's running number, which
shifts whenever a line is added above: a mutant excluded is the one whose added lines read
exactly so.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EXCLUDED", "MODULES", "TARGET", "main"]

MODULES = ("state/lifecycle.py", "state/matching.py", "state/incremental.py")
TARGET = 0.90

_L, _M, _I = MODULES

# What an excluded mutant is, and why no test can tell it from the original. Keyed by
# (module, function, the mutant's added lines joined by " / ", or "deleted: " and the lines it
# deletes, or "*" for every mutant of the function).
_EQUIVALENT: list[tuple[str, str, list[str], str]] = [
    (_L, "_settle", ["*"],
     "runs once at import, building the machine's transition table before mutmut chooses a "
     "mutant: no test can see it (test_lifecycle's TABLE pins the table itself)"),
    (_L, "_fold", ["raise AssertionError(None)  # pragma: no cover"],
     "the match above covers every signal type: the line is unreachable"),
    (_L, "_events", ["retyped: bool = True,"],
     "the default is never used: `apply` always passes `retyped`"),
    (_L, "_alert",
     ["deleted: case MrrMovement(kind=MovementKind.CHURN) if before.stage is Stage.CHURNED: / "
      "return None  # the same churn, on another subscription: one alert is enough"],
     "a churned account is not paying, so the next case answers None for it as well"),
    (_L, "_converge", ["case MrrMovement() if signal.mrr_cents >= 0:"],
     "an MRR of 0 gets here only for a paying account (`_next_stage` keeps the others where "
     "they are), whose stage already is what its facts settle to; a new_biz or reactivation "
     "of a paying account changes no risk fact"),
    (_L, "_alert_family", ["deleted: case _: / return None"],
     "a function that ends without returning returns None"),
    (_L, "_remembered", ["return (*kept, *new) if (new) or True else kept"],
     "with nothing new, (*kept,) is a tuple equal to kept"),
    (_L, "_alert_family",
     [f'return "{name}"' for family in ("churn", "expansion")
      for name in (f"XX{family}XX", family.upper())]
     + [f'return "{name}"  # a downgrade too: decided by the plans, not the type'
        for name in ("XXcontractionXX", "CONTRACTION")],
     "the family names are only compared with one another: one renamed on every path "
     "changes no comparison"),
    (_L, "_retyped", ["replace(r, key=signal.key, ) if r in old and r not in gone else r"],
     "an alert is kept only when its family is the new kind's, and each family has one kind: "
     "the kind it keeps is the new one already"),
    (_L, "_take_back", ['if r.record == "Opportunity" and standing > 1:'],
     "an Opportunity's share is 12 times a movement in cents: the sum is 0 or at least 12"),
    (_M, "website_domain", ['host = host.lower().rstrip("XX.XX")'],
     "the host is lower-cased first, so no upper-case X is left to strip"),
    (_M, "_to_18", ["for chunk in (record_id[0:5], record_id[5:10], record_id[10:16]):"],
     "`_to_18` is only given 15-character Ids: there is nothing at index 15"),
    (_M, "match",
     ["(Method.UUID_FIELD, index.by_uuid_field.get(customer.uuid, None)),",
      "(Method.UUID_FIELD, index.by_uuid_field.get(customer.uuid, )),",
      "index.by_contact_email.get(email, None) if email else frozenset(),",
      "index.by_contact_email.get(email, ) if email else frozenset(),",
      "index.by_domain.get(domain, None)",
      "index.by_domain.get(domain, )"],
     "the candidates are only tested for truth (`if not candidates`): a missing key's None "
     "and its empty set decide alike"),
    (_M, "match",
     ["index.by_contact_email.get(email, frozenset()) if (email) or True else frozenset(),"],
     "the index holds no empty email, so looking one up finds nothing, as the else does"),
    (_I, "Watermark.advance", ["if top is None or record.stamp >= top:"],
     "an equal stamp replaces the top with an equal datetime (stamps are all UTC)"),
]  # fmt: skip

EXCLUDED: dict[tuple[str, str, str], str] = {
    (module, function, added): why
    for module, function, mutants, why in _EQUIVALENT
    for added in mutants
}

_KILLED = {1, 3, 36, 24, -24, 152, 255}  # a failing test, or one that did not finish in time
_NO_TESTS = {5, 33}


@dataclass(frozen=True)
class Mutant:
    name: str
    function: str
    added: str
    code: int | None
    diff: str

    @property
    def killed(self) -> bool:
        return self.code in _KILLED


def _function(name: str) -> str:
    """``state.matching.xǁMatchIndexǁnamed__mutmut_3`` -> ``MatchIndex.named``."""
    local = name.rpartition("__mutmut_")[0].rpartition(".")[2]
    if local.startswith("xǁ"):
        return ".".join(part for part in local[2:].split("ǁ") if part)
    return local.removeprefix("x_")


def _mutants(module: str) -> list[Mutant]:
    from mutmut.mutation.diff_apply import get_diff_for_mutant  # the dev extra's

    meta = Path("mutants") / f"{module}.meta"
    if not meta.exists():
        sys.exit(f"no results for {module}: run `make mutation` (mutmut run) first")
    codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    found = []
    for name, code in codes.items():
        diff = get_diff_for_mutant(name, path=module)
        changed = [line for line in diff.splitlines() if line[:1] in "+-"]
        changed = [line for line in changed if not line.startswith(("+++", "---"))]
        added = " / ".join(line[1:].strip() for line in changed if line.startswith("+"))
        if not added:  # a mutant that deletes lines is named by what it deletes
            added = "deleted: " + " / ".join(line[1:].strip() for line in changed)
        found.append(Mutant(name, _function(name), added, code, "\n".join(changed)))
    return found


def _exclusion(module: str, mutant: Mutant) -> str | None:
    return EXCLUDED.get((module, mutant.function, mutant.added)) or EXCLUDED.get(
        (module, mutant.function, "*")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mutation", description=__doc__)
    parser.add_argument("--all", action="store_true", help="print the excluded mutants too")
    show_all = parser.parse_args(argv).all
    failed = False
    rows = []
    for module in MODULES:
        counts: Counter[str] = Counter()
        for mutant in _mutants(module):
            reason = _exclusion(module, mutant)
            if reason is not None:
                counts["excluded"] += 1
                if mutant.killed:
                    failed = True
                    print(f"{module}: {mutant.name} is excluded but was killed:\n{mutant.diff}")
                elif show_all:
                    print(f"excluded {mutant.name} ({reason}):\n{mutant.diff}\n")
                continue
            counts["counted"] += 1
            if mutant.killed:
                counts["killed"] += 1
                continue
            state = "no tests" if mutant.code in _NO_TESTS else f"exit {mutant.code}"
            if mutant.code == 0:
                state = "survived"
            print(f"{state}: {mutant.name}\n{mutant.diff}\n")
        score = counts["killed"] / counts["counted"] if counts["counted"] else 1.0
        failed = failed or score < TARGET
        rows.append(
            f"{module:24} {counts['killed']:4} / {counts['counted']:4} killed  {score:6.1%}"
            f"  ({counts['excluded']} excluded)"
        )
    print("\n".join(rows))
    print(f"target: {TARGET:.0%} of the counted mutants of each module")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
