"""``make bench``: every benchmark section in one run, printed as Markdown tables for the README.

Each ``bench/bench_*.py`` module exposes ``run() -> list[Table]``. ``python -m bench -k NAME`` runs
the sections whose module name contains NAME.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import time
from pathlib import Path

import bench
from bench.table import Table


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("-k", default="", help="only sections whose name contains this")
    parser.add_argument("--out", type=Path, default=Path(".predmaint/bench.md"))
    args = parser.parse_args()
    names = sorted(
        m.name
        for m in pkgutil.iter_modules(bench.__path__)
        if m.name.startswith("bench_") and args.k in m.name
    )
    tables: list[Table] = []
    for name in names:
        print(f"== {name} ...", flush=True)
        start = time.perf_counter()
        section = importlib.import_module(f"bench.{name}").run()
        for table in section:
            print(table.markdown(), flush=True)
        tables.extend(section)
        print(f"({name} took {time.perf_counter() - start:.0f} s)\n", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(t.markdown() for t in tables))
    print(f"figures written to {args.out}")


if __name__ == "__main__":
    main()
