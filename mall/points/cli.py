"""Ledger duties for cron: verify, checkpoint, expire, remind. Each is safe to run again."""
import sys
import time

import click
from flask.cli import AppGroup

from mall.clock import utcnow
from mall.edge import command, run
from mall.extensions import db
from mall.ledger import service as ledger
from mall.points import service as points
from mall.settings import settings_of

ledger_cli = AppGroup("ledger", help="Inspect the points ledger.")
points_cli = AppGroup("points", help="Scheduled duties on members' points.")


@ledger_cli.command("verify")
def verify():
    """Check every ledger invariant; exit 1 on any breach."""
    started = time.perf_counter()
    report = ledger.verify(db.session)
    elapsed = time.perf_counter() - started
    click.echo(f"checked {report.transfers} transfers, {report.accounts} accounts, "
               f"{report.lots} lots in {elapsed:.2f}s")
    click.echo(f"chain head {report.last_hash}")
    click.echo(f"held to {report.checkpoints} checkpoint(s)" if report.checkpoints
               else "no checkpoints yet (schedule `flask ledger checkpoint`)")
    for problem in report.problems:
        click.echo(f"BREACH {problem}", err=True)
    click.echo("ledger OK" if report.ok else f"ledger BROKEN: {len(report.problems)} problem(s)")
    sys.exit(0 if report.ok else 1)


@ledger_cli.command("checkpoint")
@command(heading="checkpoint refused")  # the line cron mails to operators
def checkpoint():
    """Append a sealed record of the chain head to LEDGER_CHECKPOINT_FILE (idempotent; schedule it)."""
    record, written = ledger.checkpoint(db.session)
    if record is None:
        click.echo("no transfers yet: nothing to checkpoint")
    else:
        click.echo(f"{'checkpoint written' if written else 'unchanged since the last checkpoint'}: "
                   f"transfer {record['transfer_id']} {record['hash']}")


@points_cli.command("expire")
@command
def expire():
    """Move the unspent remainder of expired lots to the expiry account (idempotent)."""
    now = utcnow()  # one cut-off for the whole run
    total = 0
    while done := run(ledger.expire, db.session, now):  # one short transaction per batch of accounts
        total += done
    click.echo(f"expired {total} lot(s)")


@points_cli.command("remind")
@click.option("--days", type=click.IntRange(1, 366), default=None,
              help="Look-ahead window in days (default from configuration: 30).")
def remind(days):
    """Notify members of points expiring soon, once per member per lot."""
    days = days if days is not None else settings_of(db.session).remind_days
    now, after, sent = utcnow(), None, 0
    while True:
        count, after = run(points.remind_expiring, db.session, now, days, after)
        sent += count
        if after is None:
            break
    click.echo(f"sent {sent} reminder(s)")
