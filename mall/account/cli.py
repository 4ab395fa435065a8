"""`flask user create`: how the first operator of a real installation is made."""
import click
from flask.cli import AppGroup
from sqlalchemy import select

from mall.account import service
from mall.db import write
from mall.errors import DomainError
from mall.extensions import db

user_cli = AppGroup("user", help="Manage user accounts.")


@user_cli.command("create")
@click.option("--email", required=True, help="Sign-in e-mail address.")
@click.option("--password", required=True, help="At least 10 characters.")
@click.option("--role", type=click.Choice(["member", "merchant", "operator"]), default="member", show_default=True)
@click.option("--merchant", "merchant_slug", help="Merchant slug (required for --role merchant).")
@click.option("--name", "display_name", help="Display name (defaults to the part of the e-mail before @).")
def create(email, password, role, merchant_slug, display_name):
    """Create a user and print its member code."""
    from mall.merchant.models import Merchant

    if len(password) < 10:
        raise click.UsageError("--password must have at least 10 characters.")
    merchant_id = None
    if merchant_slug:
        merchant_id = db.session.scalar(select(Merchant.id).where(Merchant.slug == merchant_slug))
        if merchant_id is None:
            raise click.UsageError(f"No merchant with slug {merchant_slug!r}.")
    try:
        with write(db.session):
            user = service.register(db.session, email=email, password=password, role=role,
                                    display_name=display_name or email.split("@")[0],
                                    merchant_id=merchant_id)
            code = user.member_code
    except DomainError as err:
        raise click.ClickException(str(err.message))
    click.echo(f"created {role} {email} — member code {code}")
