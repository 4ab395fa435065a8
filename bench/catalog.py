"""The storefront beside the yardstick (../shared/yardstick/ref_app.py: 24 of 100,000 rows, one indexed
query, a template compiled once), both under gunicorn with 2 workers on 127.0.0.1, loaded by wrk.

    python bench/catalog.py [--db sqlite,postgres] [--listings 100000] [--rounds 3] [--seconds 5]
                            [--connections 16] [--pages catalog,filtered,...] [--yardstick PATH]

For each database it seeds the demo plus generated listings, then runs rounds: each page of the mall
right after the yardstick's page, so both meet the same moment of a shared, noisy machine. It prints
per page the median over the rounds of the mall's and the yardstick's requests/s, the median of the
per-round ratios, and the mall's p99. Requests ask for brotli or gzip, as browsers do (the yardstick
answers uncompressed). "signed in" pages carry a demo member's session cookie. Needs wrk
(``apt-get install wrk``).
"""
import argparse
import http.client
import os
import re
import statistics
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import flask, free_port, gunicorn, scratch_database, wait_for_port  # noqa: E402

YARDSTICK = ROOT.parent / "shared" / "yardstick"
REF_PAGE = "/catalog?cat=7&page=3"
PAGES = {
    "catalog": ("/catalog", False),
    "filtered": ("/catalog?kind=goods&green=y&min_points=1000&max_points=20000&sort=points_asc&page=3", False),
    "search-zh2": ("/catalog?q=" + quote("空调"), False),
    "search-zh4": ("/catalog?q=" + quote("茶叶礼盒"), False),
    "search-en": ("/catalog?q=kettle", False),
    "search-pinyin": ("/catalog?q=kongtiao", False),
    "home": ("/", False),
    "listing": ("/catalog/{listing}", False),
    "catalog-signed-in": ("/catalog", True),
    "home-signed-in": ("/", True),
}
HEADERS = ["-H", "Accept-Encoding: br, gzip"]


def wrk(port: int, path: str, seconds: int, connections: int, extra=()) -> tuple[float, float]:
    """(requests/s, p99 ms) of ``wrk -t2 -c<connections> -d<seconds>s --latency``."""
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", *HEADERS, *extra,
                          f"http://127.0.0.1:{port}{path}"], check=True, capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    value, unit = re.search(r"\s99%\s+([0-9.]+)(us|ms|s)", out).groups()
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        print(f"    ! {bad.group(1)} non-2xx answers from {path}", flush=True)
    return rps, p99


@contextmanager
def yardstick(path: Path):
    """The reference page served by gunicorn -w 2, on its own seeded SQLite file."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "REF_DB": os.path.join(tmp, "ref.db")}
        subprocess.run([sys.executable, "ref_app.py", "seed"], cwd=path, env=env, check=True, capture_output=True)
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
                                 "--log-level", "warning", "ref_app:app"], cwd=path, env=env)
        try:
            wait_for_port(port)
            yield port
        finally:
            proc.terminate()
            proc.wait(10)


def session_cookie(port: int) -> str:
    """A demo member's session cookie, signed in through the real form."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/auth/login")
    response = conn.getresponse()
    html = response.read().decode()
    cookie = response.getheader("Set-Cookie").split(";", 1)[0]
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    body = urlencode({"email": "member@demo.test", "password": "demo-pass-2026", "csrf_token": token, "next": ""})
    conn.request("POST", "/auth/login", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    response = conn.getresponse()
    response.read()
    assert response.status in (302, 303), f"sign-in answered {response.status}"
    return response.getheader("Set-Cookie").split(";", 1)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--listings", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--pages", default=",".join(PAGES))
    parser.add_argument("--yardstick", default=str(YARDSTICK))
    args = parser.parse_args()
    pages = [p for p in args.pages.split(",") if p]
    print(f"catalog bench: {args.listings:,} listings, wrk -t2 -c{args.connections} -d{args.seconds}s, "
          f"{args.rounds} interleaved rounds, gunicorn -w 2 for both; load {os.getloadavg()[0]:.2f}", flush=True)
    with yardstick(Path(args.yardstick)) as ref_port:
        for kind in args.db.split(","):
            with scratch_database(kind) as url:
                flask(url, "seed-demo")
                flask(url, "seed-demo", "--listings", str(args.listings - 30))
                with gunicorn(url, workers=2) as port:
                    cookie = session_cookie(port)
                    results = {name: [] for name in pages}
                    for _ in range(args.rounds):
                        for name in pages:
                            path, signed_in = PAGES[name]
                            path = path.format(listing=args.listings // 2)
                            ref = wrk(ref_port, REF_PAGE, args.seconds, args.connections)
                            extra = ["-H", f"Cookie: {cookie}"] if signed_in else []
                            mine = wrk(port, path, args.seconds, args.connections, extra)
                            results[name].append((mine, ref))
                    print(f"\n{kind}: page                 mall req/s  yardstick req/s  ratio (median)  mall p99 ms",
                          flush=True)
                    for name in pages:
                        rows = results[name]
                        mall = statistics.median(m[0] for m, _ in rows)
                        ref = statistics.median(r[0] for _, r in rows)
                        ratio = statistics.median(m[0] / r[0] for m, r in rows)
                        p99 = statistics.median(m[1] for m, _ in rows)
                        print(f"{kind:>8}: {name:<20} {mall:>10.1f}  {ref:>15.1f}  {ratio:>13.2f}x  {p99:>11.1f}",
                              flush=True)
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
