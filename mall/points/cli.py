"""Ledger duties: seal (a long-running worker, or on demand), and for cron verify, checkpoint, expire,
remind. Each is safe to run again."""
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
    click.echo(f"{report.blocks} block(s), tip {report.last_block_id} {report.last_hash}; "
               f"{report.unsealed} transfer(s) not sealed yet")
    click.echo(f"held to {report.checkpoints} checkpoint(s)" if report.checkpoints
               else "no checkpoints yet (schedule `flask ledger checkpoint`)")
    for problem in report.problems:
        click.echo(f"BREACH {problem}", err=True)
    click.echo("ledger OK" if report.ok else f"ledger BROKEN: {len(report.problems)} problem(s)")
    sys.exit(0 if report.ok else 1)


@ledger_cli.command("seal")
@click.option("--follow", is_flag=True, help="Keep sealing until interrupted (run it as a service).")
@click.option("--interval", type=click.FloatRange(0.01, 3600), default=1.0, show_default=True,
              help="With --follow: seconds to wait when nothing is left to seal.")
@click.option("--limit", type=click.IntRange(1, 100000), default=5000, show_default=True,
              help="Transfers per block at most.")
@click.option("--max-rounds", type=click.IntRange(1), default=None, hidden=True,
              help="With --follow: stop after this many rounds (tests).")
@command
def seal(follow, interval, limit, max_rounds):
    """Chain the committed transfers no block holds yet into blocks: once, or with --follow continuously
    (each block its own short transaction). `flask ledger verify` reports transfers left unsealed
    longer than LEDGER_SEAL_LAG_SECONDS."""
    rounds, blocks, transfers = 0, 0, 0
    try:
        while True:
            block = run(ledger.seal_block, db.session, utcnow(), limit)
            if block is not None:
                blocks, transfers = blocks + 1, transfers + block.transfers
                click.echo(f"sealed block {block.id}: transfers {block.first_transfer_id}..{block.last_transfer_id} "
                           f"({block.transfers}) {block.hash}")
            rounds += 1
            if max_rounds is not None and rounds >= max_rounds:
                break
            if block is None:
                if not follow:
                    break
                time.sleep(interval)
    except KeyboardInterrupt:
        pass
    click.echo(f"sealed {transfers} transfer(s) in {blocks} block(s)")


@ledger_cli.command("checkpoint")
@command(heading="checkpoint refused")  # the line cron mails to operators
def checkpoint():
    """Append a sealed record of the block chain's tip to LEDGER_CHECKPOINT_FILE (idempotent; schedule it
    after the sealer)."""
    record, written = ledger.checkpoint(db.session)
    if record is None:
        click.echo("no blocks yet: nothing to checkpoint (run `flask ledger seal`)")
    else:
        click.echo(f"{'checkpoint written' if written else 'unchanged since the last checkpoint'}: "
                   f"block {record['block_id']} {record['hash']}")


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
