"""Summarise a py-spy collapsed-stack profile: where the samples were, by function.

    python -m bench.profile FILE [--top N] [--filter TEXT]

Prints the functions with the most samples on the stack (inclusive) and at the top of it
(self), as a share of all samples. ``--filter`` keeps stacks containing TEXT (say ``cmsync``
or a thread name), to look at one part at a time.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

__all__ = ["main", "summarise"]

_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:]+)(?::(?P<line>\d+))?\)$")


def _name(frame: str) -> str:
    """``func (path/to/module.py:12)`` -> ``module.py:func``; other frames as they are."""
    found = _FRAME.match(frame)
    if not found:
        return frame
    return f"{Path(found['file']).name}:{found['func']}"


def summarise(text: str, *, top: int = 25, keep: str = "") -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit() or (keep and keep not in stack):
            continue
        n = int(count)
        total += n
        frames = [_name(f) for f in stack.split(";")]
        for name in set(frames):
            inclusive[name] += n
        own[frames[-1]] += n
    if not total:
        return "no samples"
    lines = [f"{total} samples" + (f" in stacks with {keep!r}" if keep else "")]
    for title, counter in (("on the stack (inclusive)", inclusive), ("at the top (self)", own)):
        lines.append(f"-- {title}")
        lines.extend(f"{100 * n / total:6.1f}%  {name}" for name, n in counter.most_common(top))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--filter", default="")
    args = parser.parse_args()
    print(summarise(args.file.read_text(encoding="utf-8"), top=args.top, keep=args.filter))


if __name__ == "__main__":
    main()
