"""`make bench`: run every benchmark of bench/ in one go and write bench/RESULTS.md.

Each benchmark runs in its own process (it starts its own Prefect server), one after the other
so that they do not compete for the machine; their tables are collected into one file.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from bench.common import machine

BENCHMARKS = {
    "late": ["bench.bench_late"],
    "cancel": ["bench.bench_cancel"],
    "history": ["bench.bench_history"],
}
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("only", nargs="*", help=f"run only these ({', '.join(BENCHMARKS)})")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args(argv)
    chosen = args.only or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    sections = [f"# runops benchmarks\n\n{machine()}\n"]
    failed = 0
    for name in chosen:
        print(f"== {name} ==", flush=True)
        start = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", *BENCHMARKS[name]], capture_output=True, text=True, check=False
        )
        took = time.monotonic() - start
        print(done.stdout, flush=True)
        if done.returncode:
            failed += 1
            print(done.stderr[-3000:], file=sys.stderr)
        status = "" if done.returncode == 0 else f" — FAILED (exit {done.returncode})"
        sections.append(f"## {name} ({took:.0f} s wall){status}\n\n{done.stdout.strip()}\n")
    if not args.no_write:
        RESULTS.write_text("\n".join(sections))
        print(f"wrote {RESULTS}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
