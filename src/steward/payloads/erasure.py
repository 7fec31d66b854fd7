"""The right to erasure, and re-encryption under the current key so an old key can be retired.

`erase_user` deletes an end user's records and payloads (the two tables that name end users) and
appends its audit entry in the same transaction. The entry names the user by a hash
(`sha256:` and 16 hex digits), so the log shows the request was carried out without keeping the
identifier it erased.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from sqlalchemy.engine import Engine

from steward.errors import PayloadKeyError
from steward.payloads.keys import PayloadKeyring
from steward.payloads.sealing import plaintext
from steward.storage import audit
from steward.storage.database import translate_errors
from steward.storage.payloads import delete_user, rows_to_reseal, update_sealing

__all__ = ["Erasure", "Reencryption", "erase_user", "reencrypt", "user_reference"]


@dataclass(frozen=True, slots=True)
class Erasure:
    requests: int
    payloads: int


@dataclass(frozen=True, slots=True)
class Reencryption:
    resealed: int
    unreadable: int
    key_id: str


def user_reference(user: str) -> str:
    return "sha256:" + hashlib.sha256(user.encode()).hexdigest()[:16]


def erase_user(engine: Engine, user: str, *, actor_id: str, actor: str) -> Erasure:
    """Delete every record and payload of `user`, audited, in one transaction."""
    with translate_errors(engine.url), engine.begin() as connection:
        requests, payloads = delete_user(connection, user)
        audit.append(
            connection,
            audit.AuditEntry(
                actor_id=actor_id,
                actor=actor,
                action="data.delete_user",
                target_type="user",
                target_id=user_reference(user),
                after={"requests": requests, "payloads": payloads},
            ),
        )
    return Erasure(requests, payloads)


def reencrypt(
    engine: Engine, keyring: PayloadKeyring, *, actor_id: str, actor: str, batch_size: int = 500
) -> Reencryption:
    """Re-seal every payload not under the current key (plaintext ones too), batch by batch.

    A row whose key is not configured is left as it is and counted as unreadable. A row changed
    meanwhile (deleted, or re-sealed by another run) is skipped. One audit entry at the end.
    """
    resealed = unreadable = 0
    after = ""
    while rows := rows_to_reseal(engine, keyring.current_id, after=after, limit=batch_size):
        with translate_errors(engine.url), engine.begin() as connection:
            for row in rows:
                try:
                    document = plaintext(row, keyring)
                except PayloadKeyError:
                    unreadable += 1
                    continue
                sealed = keyring.encrypt(document, row.request_id)
                new = replace(row, key_id=sealed.key_id, nonce=sealed.nonce, body=sealed.ciphertext)
                resealed += update_sealing(connection, row, new)
        after = rows[-1].request_id
    with translate_errors(engine.url), engine.begin() as connection:
        audit.append(
            connection,
            audit.AuditEntry(
                actor_id=actor_id,
                actor=actor,
                action="data.reencrypt",
                target_type="payloads",
                after={
                    "resealed": resealed,
                    "unreadable": unreadable,
                    "key_id": keyring.current_id,
                },
            ),
        )
    return Reencryption(resealed, unreadable, keyring.current_id)
