"""Payment duties for cron: reconcile the authorisations a crash left open. Safe to run again."""
import click
from flask.cli import AppGroup

from mall.checkout import service
from mall.edge import command, run
from mall.extensions import db

payments_cli = AppGroup("payments", help="Duties on cash payments through the gateway.")


@payments_cli.command("reconcile")
@click.option("--grace-minutes", type=click.IntRange(0, 10080), default=None,
              help="Leave authorisations younger than this alone (default from configuration: 15).")
@command
def reconcile(grace_minutes):
    """Capture open authorisations whose order was placed; void the others (idempotent)."""
    done = run(service.reconcile_payments, db.session, grace_minutes)
    click.echo(f"captured {done['captured']}, voided {done['voided']} authorisation(s)")
