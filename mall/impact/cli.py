"""`flask impact backfill`: record CO2e for purchases and orders made before impact accounting."""
import click
from flask.cli import with_appcontext

from mall.edge import command, run
from mall.extensions import db
from mall.impact.backfill import backfill as backfill_batch

impact_cli = click.Group("impact", help="Green impact (CO2e) accounting.")


@impact_cli.command("backfill")
@with_appcontext
@command
def backfill():
    """Record entries for older purchases and orders (idempotent; safe to run again)."""
    for source in ("purchase", "order"):
        after = 0
        while after is not None:
            after = run(backfill_batch, db.session, source, after)
    click.echo("Impact recorded for every purchase and order.")
