"""``flask --app app worker``: delivers the outbox. ``flask --app app messages remind``: the daily reminders.

The worker, with ``REDIS_URL`` set, runs RQ's worker on the ``mall-messages`` queue (the app hands each
new message to it after its commit) and sweeps the outbox every ``--sweep`` seconds for what is due
(retries, quiet hours ended, a hand-off lost); without Redis it polls the outbox alone. Either way it
runs the daily reminders every ``--duties`` seconds (each reminder is sent once, however often they run).
SIGTERM or Ctrl-C stops it after the message in hand.
"""
import signal
import threading
import time

import click
from rq import Queue, SimpleWorker
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from mall.account import service as accounts
from mall.checkout import merchant_side
from mall.clock import utcnow
from mall.edge import run
from mall.extensions import db
from mall.messages import delivery
from mall.points import service as points

messages_cli = AppGroup("messages", help="Reminders and the outbox.")


def run_duties(now=None) -> dict[str, int]:
    """Expiry reminders at 30 and 7 days, vouchers lapsing within 7 days, today's birthdays."""
    now = now or utcnow()
    done = {"expiring": 0, "vouchers": 0, "birthdays": 0}
    for days in (30, 7):
        after = None
        while True:
            count, after = run(points.remind_expiring, db.session, now, days, after)
            done["expiring"] += count
            if after is None:
                break
    done["vouchers"] = run(merchant_side.remind_vouchers, db.session, now, 7)
    done["birthdays"] = run(accounts.greet_birthdays, db.session, now)
    return done


@messages_cli.command("remind")
@with_appcontext
def remind():
    """Queue today's reminders (expiring points, vouchers, birthdays); safe to run again."""
    done = run_duties()
    click.echo(f"reminded: {done['expiring']} expiring lot(s), {done['vouchers']} voucher(s), "
               f"{done['birthdays']} birthday(s)")


@messages_cli.command("deliver")
@with_appcontext
def deliver_now():
    """Deliver what is due now, in this process, and exit."""
    done = delivery.drain(limit=100000)
    click.echo(", ".join(f"{k} {v}" for k, v in sorted(done.items())) or "nothing due")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Deliver what is due, then exit.")
@click.option("--sweep", "sweep_seconds", type=click.FloatRange(0.05, 3600), default=2.0, show_default=True,
              help="How often to look in the outbox for what is due.")
@click.option("--duties", "duty_seconds", type=click.FloatRange(0, 86400), default=3600, show_default=True,
              help="How often to run the daily reminders (0: never).")
@with_appcontext
def worker(burst, sweep_seconds, duty_seconds):
    """Deliver notifications: e-mail, SMS and webhooks from the outbox."""
    app = current_app._get_current_object()
    redis = delivery.redis_connection(app)
    if burst:  # what is due now, then exit: through RQ's queue when there is one
        if redis is None:
            done = delivery.drain(limit=100000)
            click.echo(", ".join(f"{k} {v}" for k, v in sorted(done.items())) or "nothing due")
            return
        delivery.enqueue(app, delivery.due_ids(limit=100000))
        SimpleWorker([Queue(delivery.QUEUE, connection=redis)], connection=redis).work(burst=True,
                                                                                     logging_level="WARNING")
        return
    stop = threading.Event()
    if redis is None:
        click.echo(f"worker: polling the outbox every {sweep_seconds:g} s (no REDIS_URL)")
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        _loop(app, stop, sweep_seconds, duty_seconds, lambda: delivery.drain())
        return
    click.echo(f"worker: RQ on {app.config['REDIS_URL']} (queue {delivery.QUEUE}), sweeping every {sweep_seconds:g} s")
    sweeper = threading.Thread(target=_in_app, args=(app, _loop, app, stop, sweep_seconds, duty_seconds,
                                                      lambda: delivery.enqueue(app, delivery.due_ids())),
                               name="outbox-sweep", daemon=True)
    sweeper.start()
    try:
        # SimpleWorker runs each job in this process, inside this app context: no fork per message.
        SimpleWorker([Queue(delivery.QUEUE, connection=redis)], connection=redis).work(
            logging_level="WARNING", with_scheduler=False)
    finally:
        stop.set()
        sweeper.join(timeout=10)


def _in_app(app, target, *args):
    with app.app_context():
        target(*args)


def _loop(app, stop: threading.Event, sweep_seconds: float, duty_seconds: float, sweep) -> None:
    next_duties = time.monotonic() if duty_seconds else float("inf")
    while not stop.is_set():
        try:
            if time.monotonic() >= next_duties:
                run_duties()
                next_duties = time.monotonic() + duty_seconds
            found = sweep()
            if (sum(found.values()) if isinstance(found, dict) else found) >= 500:
                continue  # a backlog: the next batch at once
        except Exception:  # the database or Redis away for a moment: try again on the next round
            app.logger.exception("outbox sweep failed")
            db.session.rollback()
        stop.wait(sweep_seconds)
