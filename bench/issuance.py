"""Purchases per second through POST /api/v1/purchases (gunicorn on 127.0.0.1), SQLite and PostgreSQL.

    python bench/issuance.py [--db sqlite,postgres] [--clients 8] [--requests 200] [--workers 4]

Each purchase has its own Idempotency-Key, member and amount; the ledger is verified afterwards. Every
client first sends 5 purchases that are not counted (the workers' first requests warm them up).
"""
import argparse
import random
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import flask, gunicorn, json_body, load, scratch_database  # noqa: E402


def prepare(url: str, members: int) -> tuple[str, list[str]]:
    """Seed the demo, add members, and create an API key; return (key, member codes)."""
    flask(url, "seed-demo")
    codes = []
    for n in range(members):
        out = flask(url, "user", "create", "--email", f"bench{n}@example.com", "--password", "bench-password-1")
        codes.append(out.strip().rsplit(" ", 1)[1])
    key = flask(url, "api-key", "create", "--merchant", "qingfeng-appliances").strip().splitlines()[0]
    return key, codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=150, help="per client")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--members", type=int, default=20)
    args = parser.parse_args()
    print(f"issuance bench: {args.clients} clients x {args.requests} requests, gunicorn -w {args.workers}")
    for kind in args.db.split(","):
        with scratch_database(kind) as url:
            key, codes = prepare(url, args.members)
            rng = random.Random(7)

            def purchase(client, i):
                amount = rng.randrange(100, 500000)
                body = {"member_code": codes[(client * 7 + i) % len(codes)], "total_fen": amount,
                        "items": [{"sku": "B-1", "name": "bench", "category": rng.choice(["appliances", "grocery"]),
                                   "green": rng.random() < 0.5, "quantity": 1, "amount_fen": amount}]}
                return ("POST", "/api/v1/purchases", json_body(body),
                        {"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4()),
                         "Content-Type": "application/json"})

            with gunicorn(url, workers=args.workers) as port:
                # warm-up, not counted: each worker's first requests load templates, translations and
                # the rules, and every client queued behind them would show that in the p99
                load("warm-up", port, purchase, args.clients, 5)
                result = load(f"{kind}: POST /api/v1/purchases", port, purchase, args.clients, args.requests)
            print(result.row())
            print(f"{'':<42} ledger verify: {flask(url, 'ledger', 'verify').strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()
