"""Storefront speed at 10,000 and 100,000 listings, beside a trivial Flask route (gunicorn, 127.0.0.1).

    python bench/catalog.py [--db sqlite,postgres] [--sizes 10000,100000] [--clients 8] [--requests 100]

Prints requests/s and p50/p99 for the home page, a filtered catalog page and a search, and the ratio
to the trivial route served by the same gunicorn settings in the same run.
"""
import argparse
import sys
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import flask, gunicorn, load, scratch_database  # noqa: E402

PAGES = {
    "home /": "/",
    "catalog filtered": "/catalog?kind=goods&green=y&min_points=1000&max_points=20000&sort=points_asc&page=3",
    "search (3+ chars, index)": "/catalog?q=" + quote("茶叶礼盒"),
    "search (English)": "/catalog?q=kettle&sort=newest",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=100, help="per client")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    print(f"catalog bench: {args.clients} clients x {args.requests} requests, gunicorn -w {args.workers}")
    with scratch_database("sqlite") as url, gunicorn(url, workers=args.workers, app="bench.trivial:app") as port:
        trivial = load("trivial Flask route", port, lambda c, i: ("GET", "/", None, {}), args.clients, args.requests)
    print(trivial.row())
    for kind in args.db.split(","):
        with scratch_database(kind) as url:
            flask(url, "seed-demo")
            have = 30
            for size in (int(s) for s in args.sizes.split(",")):
                flask(url, "seed-demo", "--listings", str(size - have))
                have = size
                with gunicorn(url, workers=args.workers) as port:
                    for name, path in PAGES.items():
                        result = load(f"{kind} {size:>7,} {name}", port, lambda c, i, p=path: ("GET", p, None, {}),
                                      args.clients, args.requests)
                        print(result.row() + f"  ratio to trivial {trivial.rps / result.rps:5.1f}x")


if __name__ == "__main__":
    main()
