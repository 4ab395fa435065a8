"""`flask api-key create --merchant SLUG`."""
import click
from flask.cli import AppGroup

from mall.api import service as api_service
from mall.edge import command, run
from mall.extensions import db
from mall.coalition.service import get_by_slug

api_key_cli = AppGroup("api-key", help="Manage merchant API keys.")


@api_key_cli.command("create")
@click.option("--merchant", "slug", required=True, help="Merchant slug.")
@click.option("--name", default="cli", show_default=True, help="A name to recognise the key by.")
@command
def create(slug, name):
    """Create an API key and print it once (only its hash is stored)."""
    shop = get_by_slug(db.session, slug)
    if shop is None:
        raise click.UsageError(f"No merchant with slug {slug!r}.")
    key, plain = run(api_service.create_key, db.session, shop, name)
    click.echo(plain)
    click.echo(f"(key {key.prefix} for {slug}: store it now, it will not be shown again)", err=True)
