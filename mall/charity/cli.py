"""`flask charity run-pledges`: collect this month's pledges. Safe to run again."""
import re

import click
from flask.cli import AppGroup

from mall.charity import service
from mall.clock import utcnow
from mall.edge import command, run
from mall.extensions import db

charity_cli = AppGroup("charity", help="Scheduled duties of the charity programme.")


@charity_cli.command("run-pledges")
@click.option("--month", default=None, help="The month to collect, YYYY-MM (default: this month, Asia/Shanghai).")
@command
def run_pledges(month):
    """Collect every active monthly pledge once for the month; short balances are skipped and told."""
    now = utcnow()
    month = month or service.month_of(now)
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise click.BadParameter("use YYYY-MM", param_hint="--month")
    counts, after = {}, 0
    while True:
        ids = service.pledges_to_run(db.session, after)
        if not ids:
            break
        for pledge_id in ids:
            # one short transaction per pledge: one member's shortfall stops nothing
            outcome = run(service.collect_pledge, db.session, pledge_id, month, now)
            counts[outcome] = counts.get(outcome, 0) + 1
        after = ids[-1]
    summary = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("collected", "already", "skipped", "frozen", "ended", "waiting"))
    click.echo(f"pledges for {month}: {summary}")
