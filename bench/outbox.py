"""Outbox lag under load: N e-mail notifications committed in one transaction → delivered over SMTP.

    python bench/outbox.py [--messages 1000] [--db sqlite,postgres] [--modes poll,rq] [--timeout 120]

An aiosmtpd server runs in this process on a free 127.0.0.1 port and records when each message
arrives. For each database kind and each worker mode, on a scratch database (migrated): N members,
each with a confirmed address (a MessageProfile whose ``verified_email`` is the member's e-mail) and
quiet hours OFF (``quiet_hours=False``: otherwise a run between 22:00 and 08:00 Asia/Shanghai would
defer every e-mail to the morning); the worker ``flask --app app worker --sweep 0.5 --duties 0`` is
started and waited for; then ONE ``mall.db.write`` transaction calls ``mall.messages.service.post``
("gift_received") once per member, and the clock starts at its commit.

Modes: ``poll`` (no REDIS_URL: the worker polls the outbox) and ``rq`` (REDIS_URL=redis://…/14, database
14 flushed first, in the worker's environment and in this process's app, so the after-commit hand-off
of ``mall.messages.delivery.install`` queues the jobs; the figures count how many it handed off).

Figures: seconds from the commit until the SMTP server holds all N messages, messages/s, the p50/p99
per-message lag (arrival − commit), duplicates (received − distinct Message-IDs), the outbox rows'
statuses afterwards; beside them what SMTP alone costs here: N equivalent multipart e-mails sent with
smtplib over one connection (copies of one e-mail the worker sent, each with a Message-ID and recipient
of its own), and, for comparison, one connection per message, as ``send_email`` opens one per message. Only 127.0.0.1; every wait is bounded; the databases,
the worker and Redis database 14 are cleaned up whatever happens.
"""
import argparse
import copy
import os
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from email import policy
from email.parser import BytesHeaderParser, BytesParser
from email.utils import make_msgid
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from bench.harness import empty_database, environment, free_port, migrate  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/14"  # this bench's Redis database; flushed before and after each rq round
TOPIC = "gift_received"
DATA = {"points": 100, "sender_name": "Bench", "note": ""}


# ---------------------------------------------------------------- the SMTP server

class Recorder:
    """aiosmtpd handler: keeps every message's arrival time (time.time()) and raw bytes."""

    def __init__(self):
        self.lock = threading.Lock()
        self.received: list[tuple[float, bytes]] = []
        self.expected = None
        self.done = threading.Event()

    def reset(self, expected: int | None = None) -> None:
        with self.lock:
            self.received = []
            self.expected = expected
            self.done.clear()

    async def handle_DATA(self, server, session, envelope):
        at = time.time()
        with self.lock:
            self.received.append((at, envelope.content))
            if self.expected is not None and len(self.received) >= self.expected:
                self.done.set()
        return "250 Message accepted for delivery"

    def snapshot(self) -> list[tuple[float, bytes]]:
        with self.lock:
            return list(self.received)


def message_ids(received) -> list[str]:
    parser = BytesHeaderParser()
    return [str(parser.parsebytes(raw).get("Message-ID", "")).strip() for _, raw in received]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


# ---------------------------------------------------------------- the worker

class Worker:
    """``flask --app app worker`` as a subprocess; its output goes to a file (shown when a round fails)."""

    def __init__(self, url: str, smtp_port: int, redis_url: str | None):
        env = {**environment(url), "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp_port),
               "PYTHONUNBUFFERED": "1"}
        env.pop("REDIS_URL", None)
        if redis_url:
            env["REDIS_URL"] = redis_url
        self.log = tempfile.NamedTemporaryFile("w+", prefix="bench-outbox-worker-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker", "--sweep", "0.5",
                                      "--duties", "0"], cwd=HERE, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_ready(self, redis_conn=None, seconds: float = 30) -> float:
        """Wait for the worker's banner (and, with RQ, its registration in Redis); seconds it took."""
        started = time.perf_counter()
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the worker exited with {self.proc.returncode}:\n{self.output()[-4000:]}")
            if "worker:" in self.output():
                if redis_conn is None:
                    break
                from rq import Worker as RqWorker

                if RqWorker.all(connection=redis_conn):
                    break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"the worker was not ready after {seconds:g} s:\n{self.output()[-4000:]}")
        time.sleep(0.6)  # past its first sweep (an empty outbox): the round starts with the worker idle
        return time.perf_counter() - started

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        return self.proc.returncode

    def remove_log(self) -> None:
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


# ---------------------------------------------------------------- one round

def make_app(url: str, smtp_port: int, redis_url: str | None):
    from mall import create_app
    from mall.config import with_psycopg

    env = environment(url)
    return create_app({"SQLALCHEMY_DATABASE_URI": with_psycopg(url), "REDIS_URL": redis_url or "",
                       "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_port,
                       "LEDGER_CHECKPOINT_FILE": env["LEDGER_CHECKPOINT_FILE"]})


def add_members(app, n: int) -> list[int]:
    """N members (direct inserts), each with a confirmed address and quiet hours off."""
    from sqlalchemy import insert, select

    from mall.account.models import User
    from mall.clock import utcnow
    from mall.db import write
    from mall.extensions import db
    from mall.messages.models import MessageProfile

    now = utcnow()
    with app.app_context():
        with write(db.session) as session:
            session.execute(insert(User), [
                dict(email=f"m{i}@bench.test", display_name=f"m{i}", password_hash="x", role="member",
                     member_code=f"OB{i:08d}", session_token=f"bench-token-{i}", locale="en", created_at=now)
                for i in range(n)])
            users = session.execute(select(User.id, User.email).where(User.email.like("%@bench.test"))
                                    .order_by(User.id)).all()
            session.execute(insert(MessageProfile), [
                dict(user_id=uid, quiet_hours=False, quiet_start=22, quiet_end=8, verified_email=email,
                     verified_at=now, updated_at=now) for uid, email in users])
        db.session.remove()
    return [uid for uid, _ in users]


def queue_all(app, ids: list[int], handed: dict) -> dict:
    """post() for every member in ONE write transaction; returns the commit instant and timings."""
    from sqlalchemy import event

    from mall.db import write
    from mall.extensions import MallSession, db
    from mall.messages import service

    stamp: dict = {}

    def _committed(session):  # placed before delivery.install's hand-off listener (insert=True)
        if "commit" not in stamp and session.info.get("outbox_new"):
            stamp["commit"] = time.time()

    event.listen(MallSession, "after_commit", _committed, insert=True)
    try:
        with app.app_context():
            started = time.time()
            with write(db.session) as session:
                rows = 0
                for i, uid in enumerate(ids):
                    rows += len(service.post(session, TOPIC, uid, DATA, cause=f"bench:{i}"))
                stamp["posted"] = time.time()
            stamp["returned"] = time.time()  # the commit and its after-commit hand-off are done
            stamp["started"], stamp["rows"] = started, rows
            db.session.remove()
    finally:
        event.remove(MallSession, "after_commit", _committed)
    stamp.setdefault("commit", stamp["returned"])
    stamp["handed"] = handed.get("jobs", 0)
    stamp["hand_errors"] = handed.get("errors", 0)
    return stamp


def outbox_state(app) -> tuple[dict, dict, set]:
    """(rows by status, e-mail rows by status, the Message-IDs the sent rows carry)."""
    from sqlalchemy import func, select

    from mall.extensions import db
    from mall.messages.models import OutboxMessage

    with app.app_context():
        by_status = dict(db.session.execute(select(OutboxMessage.status, func.count(OutboxMessage.id))
                                            .group_by(OutboxMessage.status)).all())
        email = dict(db.session.execute(select(OutboxMessage.status, func.count(OutboxMessage.id))
                                        .where(OutboxMessage.channel == "email")
                                        .group_by(OutboxMessage.status)).all())
        refs = {r for (r,) in db.session.execute(select(OutboxMessage.provider_ref)
                                                 .where(OutboxMessage.status == "sent"))}
        db.session.remove()
    return by_status, email, refs


def reference(recorder: Recorder, port: int, n: int, sample: bytes, per_message: bool, timeout: float) -> float:
    """Send n copies of ``sample`` (one e-mail the worker delivered: the same multipart text + HTML, the
    same headers) with smtplib, each with a Message-ID and recipient of its own, over one connection or
    one per message; seconds until the server holds all n (nan if it does not within ``timeout``)."""
    template = BytesParser(policy=policy.SMTP).parsebytes(sample)
    messages = []
    for i in range(n):
        msg = copy.deepcopy(template)
        del msg["Message-ID"], msg["To"]
        msg["Message-ID"] = make_msgid(f"ref{i}", "bench.test")
        msg["To"] = f"m{i}@bench.test"
        messages.append(msg)
    recorder.reset(expected=n)
    started = time.perf_counter()
    if per_message:
        for msg in messages:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
                smtp.send_message(msg)
    else:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            for msg in messages:
                smtp.send_message(msg)
    recorder.done.wait(timeout)
    seconds = time.perf_counter() - started
    got = len(recorder.snapshot())
    recorder.reset()
    return seconds if got == n else float("nan")


def run_round(kind: str, mode: str, n: int, timeout: float, recorder: Recorder, port: int) -> dict:
    from mall.messages import delivery

    result = {"db": kind, "mode": mode, "messages": n, "error": ""}
    redis_conn = None
    redis_url = REDIS_URL if mode == "rq" else None
    if redis_url:
        from redis import Redis

        redis_conn = Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
        redis_conn.flushdb()  # database 14 only
    handed = {"jobs": 0, "errors": 0}
    original_enqueue = delivery.enqueue

    def counting_enqueue(app, due):  # the after-commit hook calls delivery.enqueue by its module name
        try:
            count = original_enqueue(app, due)
        except Exception:
            handed["errors"] += 1
            raise
        handed["jobs"] += count
        return count

    app = worker = None
    ids_seen: list[str] = []
    received: list = []
    try:
        with empty_database(kind, "mall_outbox") as url:
            migrate(url)
            app = make_app(url, port, redis_url)
            started = time.perf_counter()
            ids = add_members(app, n)
            result["setup_s"] = time.perf_counter() - started
            worker = Worker(url, port, redis_url)
            try:
                result["worker_ready_s"] = worker.wait_ready(redis_conn)
                recorder.reset(expected=n)
                delivery.enqueue = counting_enqueue
                try:
                    stamp = queue_all(app, ids, handed)
                finally:
                    delivery.enqueue = original_enqueue
                commit = stamp["commit"]
                result.update(rows=stamp["rows"], post_s=stamp["posted"] - stamp["started"],
                              handoff_s=stamp["returned"] - commit, handed=stamp["handed"],
                              hand_errors=stamp["hand_errors"])
                if stamp["rows"] != n:
                    result["error"] = f"post() queued {stamp['rows']} e-mail rows, not {n}"
                complete = recorder.done.wait(max(0.0, commit + timeout - time.time()))
                all_in = time.time()
                received = recorder.snapshot()
                if complete:
                    result["deliver_s"] = max(at for at, _ in received[:n]) - commit
                else:
                    result["deliver_s"] = float("nan")
                    result["error"] = result["error"] or f"timeout: {len(received)}/{n} received after {timeout:g} s"
                time.sleep(1.0)  # anything sent twice arrives in this second too
                received = recorder.snapshot()
                lags = [at - commit for at, _ in received]
                ids_seen = message_ids(received)
                result.update(received=len(received), distinct=len(set(ids_seen)),
                              duplicates=len(received) - len(set(ids_seen)),
                              p50=pct(lags, 50), p99=pct(lags, 99), first=min(lags) if lags else float("nan"),
                              waited_s=all_in - commit)
            finally:
                code = worker.stop()
                result["worker_exit"] = code
                text = worker.output()
                result["worker_log"] = text
                worker.remove_log()
            by_status, email, refs = outbox_state(app)
            result.update(statuses=by_status, email_statuses=email,
                          refs_match=set(ids_seen) == refs and len(refs) == n)
            if email.get("sent", 0) != n and not result["error"]:
                result["error"] = f"outbox e-mail rows: {email}"
            if received:  # the reference sends copies of what the worker sent
                sample = received[0][1]
                result["ref_s"] = reference(recorder, port, n, sample, per_message=False, timeout=timeout)
                result["ref_conn_s"] = reference(recorder, port, n, sample, per_message=True, timeout=timeout)
            with app.app_context():
                from mall.extensions import db

                db.session.remove()
                db.engine.dispose()  # before the scratch database is dropped
            app = None
    except Exception as err:  # a figure-printing bench: report the round, go on with the next
        import traceback

        result["error"] = result.get("error") or f"{type(err).__name__}: {err}"
        result["traceback"] = traceback.format_exc()
        if app is not None:
            try:
                with app.app_context():
                    from mall.extensions import db

                    db.session.remove()
                    db.engine.dispose()
            except Exception:
                pass
    finally:
        if redis_conn is not None:
            try:
                result["redis_left"] = redis_conn.dbsize()
                redis_conn.flushdb()
            except Exception:
                pass
            redis_conn.close()
    return result


# ---------------------------------------------------------------- main

def fmt(value, spec=".2f") -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    return format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--modes", default="poll,rq")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--verbose", action="store_true", help="print the worker's output of every round")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for kind in kinds:
        if kind not in ("sqlite", "postgres"):
            parser.error(f"unknown database kind {kind!r}")
    for mode in modes:
        if mode not in ("poll", "rq"):
            parser.error(f"unknown mode {mode!r}")

    from aiosmtpd.controller import Controller

    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    load_before = os.getloadavg()
    print(f"outbox bench: {args.messages} e-mail notifications per round, SMTP 127.0.0.1:{port} (aiosmtpd, in "
          f"process), worker --sweep 0.5 --duties 0, timeout {args.timeout:g} s, {os.cpu_count()} CPUs")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}", flush=True)
    results = []
    controller.start()
    try:
        for kind in kinds:
            for mode in modes:
                result = run_round(kind, mode, args.messages, args.timeout, recorder, port)
                results.append(result)
                line = (f"  {kind}/{mode}: delivered {fmt(result.get('deliver_s'))} s, received "
                        f"{result.get('received', '—')}, outbox {result.get('statuses', '—')}")
                if result["error"]:
                    line += f"  ERROR {result['error']}"
                print(line, flush=True)
                if result.get("traceback"):
                    print(result["traceback"])
                if args.verbose or result["error"]:
                    log = result.get("worker_log", "").strip()
                    if log:
                        print("  worker output (last 4000 characters):")
                        print("    " + log[-4000:].replace("\n", "\n    "))
    finally:
        controller.stop()
    load_after = os.getloadavg()

    print()
    head = (f"{'db':<9}{'mode':<6}{'msgs':>6}{'deliver s':>11}{'msg/s':>9}{'p50 lag s':>11}{'p99 lag s':>11}"
            f"{'dups':>6}{'sent':>6}{'ref 1 conn s':>14}{'ref conn/msg s':>16}{'post s':>8}{'handed':>8}")
    print(head)
    print("-" * len(head))
    for r in results:
        n = r["messages"]
        rate = n / r["deliver_s"] if r.get("deliver_s") and r["deliver_s"] == r["deliver_s"] else float("nan")
        handed = str(r.get("handed", "—")) if r["mode"] == "rq" else "-"
        print(f"{r['db']:<9}{r['mode']:<6}{n:>6}{fmt(r.get('deliver_s')):>11}{fmt(rate, '.1f'):>9}"
              f"{fmt(r.get('p50')):>11}{fmt(r.get('p99')):>11}{str(r.get('duplicates', '—')):>6}"
              f"{str(r.get('email_statuses', {}).get('sent', '—')):>6}{fmt(r.get('ref_s')):>14}"
              f"{fmt(r.get('ref_conn_s')):>16}{fmt(r.get('post_s')):>8}{handed:>8}")
    print()
    for r in results:
        checks = [f"received {r.get('received', '—')} ({r.get('distinct', '—')} distinct Message-IDs)",
                  f"outbox rows {r.get('statuses', '—')}",
                  f"Message-IDs = sent rows' refs: {r.get('refs_match', '—')}",
                  f"first arrival {fmt(r.get('first'))} s after commit",
                  f"commit→hand-off done {fmt(r.get('handoff_s'), '.3f')} s",
                  f"worker ready in {fmt(r.get('worker_ready_s'))} s, exit {r.get('worker_exit', '—')}"]
        if r["mode"] == "rq":
            checks.append(f"after-commit hand-off queued {r.get('handed', '—')} jobs"
                          f" ({r.get('hand_errors', 0)} errors), Redis keys left {r.get('redis_left', '—')}")
        if r["error"]:
            checks.append(f"ERROR: {r['error']}")
        print(f"{r['db']}/{r['mode']}: " + "; ".join(checks))
    print()
    print("deliver s: commit → the SMTP server holds all N; lag: arrival − commit per message; "
          "ref: N equivalent multipart e-mails via smtplib to the same server (one connection / one per message); "
          "post s: the N post() calls inside the transaction, before its commit.")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}; "
          f"after: {' '.join(f'{x:.2f}' for x in load_after)}")
    if any(r["error"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
