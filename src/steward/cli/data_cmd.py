"""`steward data delete|reencrypt`: erase an end user's data; re-seal payloads under the new key."""

from __future__ import annotations

from typing import Annotated

import typer

from steward.cli.common import ConfigOption, admin_session, fail, load

app = typer.Typer(
    help="Erase an end user's records and payloads; re-encrypt payloads under the current key.",
    no_args_is_help=True,
)


@app.command("delete")
def delete(
    user: Annotated[
        str, typer.Option("--user", help="The end user (`x-steward-user` or the request's `user`).")
    ],
    config: ConfigOption = None,
) -> None:
    """Delete every record and payload of one end user, audited as `data.delete_user`."""
    from steward.payloads.erasure import erase_user

    if not user:
        fail("--user must not be empty")
    with admin_session(config) as admin:
        done = erase_user(admin.engine, user, actor_id=admin.actor.id, actor=admin.actor.name)
    typer.echo(f"deleted {done.requests} records and {done.payloads} payloads of user {user}")


@app.command("reencrypt")
def reencrypt(
    batch_size: Annotated[int, typer.Option(help="Rows per transaction.", min=1)] = 500,
    config: ConfigOption = None,
) -> None:
    """Re-encrypt every payload not under the first of `[payloads] encryption_keys`."""
    from steward.errors import StewardError
    from steward.payloads.erasure import reencrypt as reseal
    from steward.payloads.keys import PayloadKeyring

    try:
        keyring = PayloadKeyring.from_config(load(config).config.payloads)
    except StewardError as exc:
        fail(exc.message)
    if keyring is None:
        fail("[payloads] encryption_keys is empty: there is no key to encrypt with")
    with admin_session(config) as admin:
        done = reseal(
            admin.engine,
            keyring,
            actor_id=admin.actor.id,
            actor=admin.actor.name,
            batch_size=batch_size,
        )
    typer.echo(f"re-encrypted {done.resealed} payloads with key {done.key_id}")
    if done.unreadable:
        typer.echo(
            f"warning: {done.unreadable} payloads are under keys that are not configured; "
            "they were left as they are",
            err=True,
        )
