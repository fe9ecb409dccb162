"""`make bench`: every benchmark of bench/ on every setup it is meant for, one table, bench/RESULTS.md.

Each (benchmark, setup) runs in its own process that starts and stops its own Prefect, one after
the other so that they do not compete for the machine. The jobs' benchmarks (late reschedule,
bulk cancel, retry, history) run on SQLite and on PostgreSQL; the concurrency comparison runs on SQLite, on
PostgreSQL and on two PostgreSQL + Redis API workers. Ratios compare variants measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import SETUPS, machine

PLAN: dict[str, tuple[str, tuple[str, ...]]] = {
    "late": ("bench.bench_late", ("sqlite", "postgres")),
    "cancel": ("bench.bench_cancel", ("sqlite", "postgres")),
    "retry": ("bench.bench_retry", ("sqlite", "postgres")),
    "history": ("bench.bench_history", ("sqlite", "postgres")),
    "concurrency": ("bench.bench_concurrency", ("sqlite", "postgres", "pg-redis-2")),
}
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def ratio_text(row: dict[str, Any], base: dict[str, Any] | None) -> str:
    if base is None or not row["seconds"] or not base["seconds"]:
        return ""
    return f"{(row['runs'] / row['seconds']) / (base['runs'] / base['seconds']):.2f}×"


def combined(results: list[dict[str, Any]]) -> str:
    lines = [
        "| benchmark | setup | variant | runs | seconds | runs/s | ratio | note |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for result in results:
        base = next((r for r in result["rows"] if r["variant"] == result.get("baseline")), None)
        for r in result["rows"]:
            rate = r["runs"] / r["seconds"] if r["seconds"] else float("inf")
            lines.append(
                f"| {r['benchmark']} | {r['setup']} | {r['variant']} | {r['runs']:,} | {r['seconds']:.2f} | "
                f"{rate:.1f} | {ratio_text(r, base)} | {r['note']} |"
            )
    return "\n".join(lines)


def targets(results: list[dict[str, Any]]) -> str:
    lines = ["| target | setup | measured | wanted | |", "|---|---|---|---|---|"]
    for result in results:
        for c in result["checks"]:
            lines.append(
                f"| {c['what']} | {c['setup']} | {c['measured']} | {c['target']} | {'met' if c['met'] else '**missed**'} |"
            )
    return "\n".join(lines)


def destination(only: list[str], setups: list[str]) -> tuple[Path, str]:
    """Where a run's table goes and the command named in it: a subset gets its own file, so
    RESULTS.md always holds one whole `make bench`."""
    if not only and not setups:
        return RESULTS, "make bench"
    command = " ".join(["python -m bench", *only, *(["--setups", *setups] if setups else [])])
    return RESULTS.with_name(f"RESULTS-{'-'.join([*only, *setups])}.md"), command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("only", nargs="*", help=f"run only these ({', '.join(PLAN)})")
    parser.add_argument("--setups", nargs="*", choices=list(SETUPS), help="run only on these setups")
    parser.add_argument("--no-write", action="store_true", help="print only; write no RESULTS file")
    args = parser.parse_args(argv)
    unknown = [name for name in args.only if name not in PLAN]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    jobs = [
        (name, module, setup)
        for name, (module, setups) in PLAN.items()
        if not args.only or name in args.only
        for setup in setups
        if not args.setups or setup in args.setups
    ]
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="runops-bench-results-"))
    for name, module, setup in jobs:
        print(f"\n== {name} on {setup} ({SETUPS[setup]}) ==", flush=True)
        out = workdir / f"{name}-{setup}.json"
        t0 = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", module, "--setup", setup, "--json", str(out)], check=False
        )
        took = time.monotonic() - t0
        if done.returncode or not out.exists():
            failures.append(f"{name} on {setup}: exit {done.returncode} after {took:.0f} s")
            continue
        result = json.loads(out.read_text())
        result["wall"] = took
        results.append(result)
    wall = time.monotonic() - started
    written, command = destination(args.only, args.setups or [])
    shutil.rmtree(workdir, ignore_errors=True)
    text = "\n".join(
        [
            "# runops benchmarks",
            "",
            f"Measured by `{command}` ({wall / 60:.0f} min in all): {machine()}.",
            "",
            "Setups: " + "; ".join(f"**{k}** — {v}" for k, v in SETUPS.items()) + ".",
            "Ratios compare variants measured in the same run on the same setup (runs/s ÷ the baseline's).",
            "",
            "## Targets",
            "",
            targets(results),
            "",
            "## All measurements",
            "",
            combined(results),
            "",
            *(
                [f"- {result['rows'][0]['setup']}: {line}" for result in results for line in result["lines"]]
                if any(result["lines"] for result in results)
                else []
            ),
            *([f"\n**Failed:** {'; '.join(failures)}"] if failures else []),
            "",
        ]
    )
    print("\n" + text)
    if not args.no_write:
        written.write_text(text)
        print(f"wrote {written}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
