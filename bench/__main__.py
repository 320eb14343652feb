"""``make bench``: speed and memory benchmarks against the sandbox (filled in by later work)."""

import sys

if __name__ == "__main__":
    sys.stdout.write("no benchmarks yet: the pipeline they measure is not built yet\n")
