"""Payment duties for cron: reconcile the authorisations a crash left open. Safe to run again."""
import click
from flask import current_app
from flask.cli import AppGroup

from mall.checkout import service
from mall.extensions import db

payments_cli = AppGroup("payments", help="Duties on cash payments through the gateway.")


@payments_cli.command("reconcile")
@click.option("--grace-minutes", type=click.IntRange(0, 10080), default=None,
              help="Leave authorisations younger than this alone (default from configuration: 15).")
def reconcile(grace_minutes):
    """Capture open authorisations whose order was placed; void the others (idempotent)."""
    grace = grace_minutes if grace_minutes is not None else current_app.config["PAYMENT_RECONCILE_GRACE_MINUTES"]
    done = service.reconcile_payments(db.session, grace)
    click.echo(f"captured {done['captured']}, voided {done['voided']} authorisation(s)")
