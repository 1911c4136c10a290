"""``python -m bench [names...] [--quick]``: run the named benchmarks (default: all) in order."""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from bench.common import machine

#: Benchmark modules in ``bench/``, in the order ``python -m bench`` runs them. Each exposes
#: ``run(args: argparse.Namespace) -> None`` and a docstring whose first line describes it.
BENCHMARKS: list[str] = [
    "ingest", "serve", "thumbnails", "lists", "load", "remote", "wsgi_servers", "scale", "sse",
    "serving",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="name", help=f"benchmarks to run: {', '.join(BENCHMARKS)}"
    )
    parser.add_argument(
        "--quick", action="store_true", help="skip the slowest cases (1 GB ingest) and shorten runs"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)} (choose from {BENCHMARKS})")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for name in BENCHMARKS:
            doc = (importlib.import_module(f"bench.{name}").__doc__ or "").strip()
            print(f"{name:12} {doc.splitlines()[0] if doc else ''}")
        return 0
    facts = machine()
    print("## Machine\n")
    for key, value in facts.items():
        print(f"- {key}: {value}")
    for name in args.names or BENCHMARKS:
        started = time.perf_counter()
        print(f"\n## {name}", flush=True)
        importlib.import_module(f"bench.{name}").run(args)
        print(f"({name} took {time.perf_counter() - started:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
