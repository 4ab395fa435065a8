"""`flask impact backfill`: record CO2e for purchases and orders made before impact accounting."""
import click
from flask.cli import with_appcontext

from mall.db import write
from mall.extensions import db
from mall.impact import service

impact_cli = click.Group("impact", help="Green impact (CO2e) accounting.")


@impact_cli.command("backfill")
@with_appcontext
def backfill():
    """Record entries for older purchases and orders (idempotent; safe to run again)."""
    for source in ("purchase", "order"):
        after = 0
        while after is not None:
            with write(db.session):
                after = service.backfill(db.session, source, after)
    click.echo("Impact recorded for every purchase and order.")
