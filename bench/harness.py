"""Shared bench plumbing: a scratch database, a gunicorn server on 127.0.0.1, a bounded load loop.

Benchmarks print figures; they are not tests. Every load targets 127.0.0.1 only and stops by itself.
"""
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def empty_database(kind: str, prefix: str = "mall_bench"):
    """Yield the URL of a new, empty database (a SQLite file, or a PostgreSQL database named after
    ``prefix`` and this process); it is dropped afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/{prefix}.sqlite3"
        return
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{os.getpid()}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def scratch_database(kind: str):
    """Yield a DATABASE_URL for an empty, migrated database (SQLite file or a PostgreSQL database)."""
    with empty_database(kind) as url:
        migrate(url)
        yield url


def environment(url: str) -> dict:
    """The app's environment for one scratch database: its URL, and a checkpoint file of its own (the
    instance folder's file belongs to the developer's database; another database's blocks never match it)."""
    name = "bench-checkpoints-" + "".join(c if c.isalnum() else "_" for c in url)[-80:] + ".jsonl"
    return {**os.environ, "DATABASE_URL": url, "LEDGER_CHECKPOINT_FILE": os.path.join(tempfile.gettempdir(), name)}


def migrate(url: str) -> None:
    env = environment(url)
    subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True)


def flask(url: str, *args: str) -> str:
    env = environment(url)
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env,
                          check=True, capture_output=True, text=True)
    return done.stdout


def wait_for_port(port: int, seconds: float = 30) -> None:
    """Return once something listens on 127.0.0.1:``port``; RuntimeError after ``seconds``."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port}")


@contextmanager
def gunicorn(url: str, workers: int = 4, app: str = "app:app", extra_env: dict | None = None):
    """Serve ``app`` with gunicorn on a free 127.0.0.1 port; yield the port; always stop it."""
    port = free_port()
    env = {**environment(url), "SECRET_KEY": "bench", "LOGIN_RATE_LIMIT": "100000 per minute", **(extra_env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
                             "--log-level", "warning", app], cwd=ROOT, env=env)
    try:
        wait_for_port(port)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


class Result:
    def __init__(self, name: str, latencies: list[float], seconds: float, statuses: dict):
        self.name, self.latencies, self.seconds, self.statuses = name, sorted(latencies), seconds, statuses

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        index = min(len(self.latencies) - 1, int(round(p / 100 * (len(self.latencies) - 1))))
        return self.latencies[index] * 1000

    def row(self) -> str:
        statuses = ",".join(f"{k}:{v}" for k, v in sorted(self.statuses.items()))
        return (f"{self.name:<42} {self.rps:>9.1f}/s  p50 {self.pct(50):>7.1f} ms  p99 {self.pct(99):>7.1f} ms"
                f"  n={len(self.latencies)}  [{statuses}]")


def load(name: str, port: int, make_request, clients: int, requests_per_client: int, max_seconds: float = 60) -> Result:
    """``clients`` threads, each with a keep-alive connection, sending ``make_request(client, i)``
    → (method, path, body bytes | None, headers) until done or ``max_seconds`` pass."""
    latencies: list[float] = []
    statuses: dict = {}
    lock = threading.Lock()
    stop_at = time.time() + max_seconds

    def worker(client: int):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, codes = [], {}
        for i in range(requests_per_client):
            if time.time() > stop_at:
                break
            method, path, body, headers = make_request(client, i)
            started = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = "error"
            mine.append(time.perf_counter() - started)
            codes[status] = codes.get(status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for k, v in codes.items():
                statuses[k] = statuses.get(k, 0) + v

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Result(name, latencies, time.perf_counter() - started, statuses)


def json_body(payload) -> bytes:
    return json.dumps(payload).encode()


def median(values):
    return statistics.median(values) if values else float("nan")
