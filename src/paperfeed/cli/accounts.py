"""`paperfeed user` and `paperfeed token`: local accounts and their API tokens."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from paperfeed.cli.common import fail, load_settings, open_db, say
from paperfeed.community import accounts

user_app = typer.Typer(help="Local accounts.", no_args_is_help=True)
token_app = typer.Typer(help="Personal API tokens.", no_args_is_help=True)


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="2-40 letters, digits, '-' or '_'.")],
    email: Annotated[str, typer.Option(help="The account's email address.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    admin: Annotated[bool, typer.Option(help="Make the account an admin.")] = False,
) -> None:
    """Create an account (exit status 1 if it cannot be: taken name, weak password...)."""
    if not password_stdin:
        raise typer.BadParameter("give the password on standard input with --password-stdin")
    password = sys.stdin.readline().rstrip("\r\n")
    settings = load_settings()
    with open_db(settings) as db:
        try:
            with db.transaction() as session:
                user = accounts.create_user(
                    session, username, email, password, admin=admin or None
                )
        except accounts.AccountError as error:
            raise fail(error) from None
    say(f"created {'admin' if user.is_admin else 'user'} {user.username}")


@token_app.command("create")
def token_create(
    username: Annotated[str, typer.Argument(help="Whose token.")],
    name: Annotated[str, typer.Option(help="A name to tell the token apart.")] = "command line",
    days: Annotated[
        int | None, typer.Option(min=1, help="Expire after this many days (default: never).")
    ] = None,
) -> None:
    """Print a new API token for USERNAME (only its hash is stored: keep it now)."""
    settings = load_settings()
    with open_db(settings) as db, db.transaction() as session:
        user = accounts.get_user(session, username)
        if user is None:
            raise fail(f"no user {username!r}")
        token = accounts.create_token(session, user, name, days=days)
    print(token.secret)
