"""Ledger duties for cron: verify, expire, remind. Each is safe to run again."""
import sys
import time

import click
from flask import current_app
from flask.cli import AppGroup

from mall.account import service as accounts
from mall.db import write
from mall.extensions import db
from mall.ledger import service as ledger
from mall.models import utcnow

ledger_cli = AppGroup("ledger", help="Inspect the points ledger.")
points_cli = AppGroup("points", help="Scheduled duties on members' points.")

REMIND_PAGE = 500


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
def checkpoint():
    """Append a sealed record of the chain head to LEDGER_CHECKPOINT_FILE (idempotent; schedule it)."""
    try:
        record, written = ledger.checkpoint(db.session)
    except ledger.LedgerError as err:
        click.echo(f"checkpoint refused: {err}", err=True)
        sys.exit(1)
    finally:
        db.session.rollback()  # it only read
    if record is None:
        click.echo("no transfers yet: nothing to checkpoint")
    else:
        click.echo(f"{'checkpoint written' if written else 'unchanged since the last checkpoint'}: "
                   f"transfer {record['transfer_id']} {record['hash']}")


@points_cli.command("expire")
def expire():
    """Move the unspent remainder of expired lots to the expiry account (idempotent)."""
    now = utcnow()  # one cut-off for the whole run
    total = 0
    while True:
        with write(db.session):  # one short transaction per batch of accounts
            done = ledger.expire(db.session, now)
        total += done
        if not done:
            break
    click.echo(f"expired {total} lot(s)")


@points_cli.command("remind")
@click.option("--days", type=click.IntRange(1, 366), default=None,
              help="Look-ahead window in days (default from configuration: 30).")
def remind(days):
    """Notify members of points expiring soon, once per member per lot."""
    days = days if days is not None else current_app.config["POINTS_REMIND_DAYS"]
    now, after, sent = utcnow(), None, 0
    while True:
        with write(db.session):
            page = ledger.expiring_lots(db.session, now, days, limit=REMIND_PAGE, after=after)
            for lot, account in page:
                sent += accounts.notify(
                    db.session, account.owner_id, "points_expiring",
                    {"points": lot.remaining, "expires_at": lot.expires_at.isoformat()},
                    dedupe_key=f"expiring:lot:{lot.id}",
                )
            if page:
                after = (page[-1][0].expires_at, page[-1][0].id)
        if len(page) < REMIND_PAGE:
            break
    click.echo(f"sent {sent} reminder(s)")
