"""`flask user create`: how the first operator of a real installation is made."""
import click
from flask.cli import AppGroup

from mall.account import service
from mall.edge import command, run
from mall.extensions import db
from mall.coalition import service as merchants

user_cli = AppGroup("user", help="Manage user accounts.")


@user_cli.command("create")
@click.option("--email", required=True, help="Sign-in e-mail address.")
@click.option("--password", required=True, help="At least 10 characters.")
@click.option("--role", type=click.Choice(["member", "merchant", "operator"]), default="member", show_default=True)
@click.option("--merchant", "merchant_slug", help="Merchant slug (required for --role merchant).")
@click.option("--name", "display_name", help="Display name (defaults to the part of the e-mail before @).")
@command
def create(email, password, role, merchant_slug, display_name):
    """Create a user and print its member code."""
    if len(password) < 10:
        raise click.UsageError("--password must have at least 10 characters.")
    merchant_id = None
    if merchant_slug:
        merchant = merchants.get_by_slug(db.session, merchant_slug)
        if merchant is None:
            raise click.UsageError(f"No merchant with slug {merchant_slug!r}.")
        merchant_id = merchant.id
    password_hash = service.hash_password(db.session, password)  # before the write, not in it
    user = run(service.register, db.session, email=email, password_hash=password_hash, role=role,
               display_name=display_name or email.split("@")[0], merchant_id=merchant_id)
    click.echo(f"created {role} {email} — member code {user.member_code}")
