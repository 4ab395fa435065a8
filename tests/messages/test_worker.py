"""The worker as it runs in production: ``flask --app app worker`` in its own process, on RQ over Redis
or polling the outbox; killed in the middle of a delivery, the message still goes exactly once."""
import os
import signal
import subprocess
import sys
import time

from rq import Queue

from mall.messages import delivery
from tests.messages.test_email import deliver, outbox
from tests.servers import ROOT


def start_worker(database_url, smtp, tmp_path, **env):
    log = open(tmp_path / f"worker-{time.monotonic_ns()}.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "worker", "--sweep", "0.2", "--duties", "0"], cwd=ROOT,
        env={**os.environ, "MALL_ENV": "development", "DATABASE_URL": database_url, "MAIL_SERVER": "127.0.0.1",
             "MAIL_PORT": str(smtp.port), "MAIL_TIMEOUT": "30", "SMS_SANDBOX_URL": f"sqlite:///{tmp_path / 'sms.sqlite3'}",
             **env}, stdout=log, stderr=subprocess.STDOUT)
    process.log_path = log.name
    return process


def wait_for(condition, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_polling_worker_delivers_what_is_committed_while_it_runs(app, people, smtp, database_url, tmp_path):
    lin, mei = people.member("lin@example.com", 5000, name="Lin"), people.member("mei@example.com", 0)
    people.family_of(lin, mei)
    people.confirm(mei)
    worker = start_worker(database_url, smtp, tmp_path)
    try:
        people.gift(lin, mei, 300)
        assert wait_for(lambda: len(smtp.messages) == 1), open(worker.log_path).read()
        people.gift(lin, mei, 400)
        assert wait_for(lambda: len(smtp.messages) == 2), open(worker.log_path).read()
    finally:
        stop(worker)
    assert worker.returncode == 0  # SIGTERM stops it cleanly
    assert "polling the outbox" in open(worker.log_path).read()


def test_a_worker_killed_mid_delivery_sends_the_message_exactly_once_after_restart(
        app, people, smtp, database_url, tmp_path, redis_db):
    lin, mei = people.member("lin@example.com", 5000, name="Lin"), people.member("mei@example.com", 0)
    people.family_of(lin, mei)
    people.confirm(mei)
    env = {"REDIS_URL": redis_db, "MESSAGES_LEASE_SECONDS": "2"}
    app.config["REDIS_URL"] = redis_db  # the app hands the message to RQ as it commits
    smtp.stall.clear()  # the SMTP server holds the first delivery at DATA
    first = start_worker(database_url, smtp, tmp_path, **env)
    try:
        people.gift(lin, mei, 300)
        assert smtp.stalled.wait(20), open(first.log_path).read()
        first.send_signal(signal.SIGKILL)  # killed while the message is on the wire
        first.wait(10)
    finally:
        smtp.stall.set()
        stop(first)
    [row] = outbox(app, channel="email")
    assert row.status == "sending" and smtp.messages == []
    second = start_worker(database_url, smtp, tmp_path, **env)
    try:
        assert wait_for(lambda: len(smtp.messages) == 1), open(second.log_path).read()
        time.sleep(3)  # longer than a lease: nothing else goes out
    finally:
        stop(second)
    assert len(smtp.messages) == 1
    [row] = outbox(app, channel="email")
    assert row.status == "sent" and row.attempts == 2


def test_a_commit_hands_the_message_to_rq_and_the_sweep_finds_a_lost_hand_off(app, people, smtp, runner, redis_db):
    from redis import Redis

    lin, mei = people.member("lin@example.com", 5000, name="Lin"), people.member("mei@example.com", 0)
    people.family_of(lin, mei)
    people.confirm(mei)
    app.config["REDIS_URL"] = redis_db
    queue = Queue(delivery.QUEUE, connection=Redis.from_url(redis_db))
    people.gift(lin, mei, 300, token="handed")
    assert queue.count == 1  # handed over at the commit
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # Redis away at the next commit
    app.extensions.pop("mall.messages.redis", None)
    people.gift(lin, mei, 400, token="lost")
    assert queue.count == 1 and len(outbox(app, channel="email")) == 2  # the row stands; the hand-off was lost
    app.config["REDIS_URL"] = redis_db
    app.extensions.pop("mall.messages.redis", None)
    deliver(runner)  # the sweep queues what is due, RQ's worker sends both
    assert len(smtp.messages) == 2 and queue.count == 0
    assert [r.status for r in outbox(app, channel="email")] == ["sent", "sent"]
