"""Checkpoints: sealed records of the chain head, appended to a file outside the database
(LEDGER_CHECKPOINT_FILE), so ``verify`` notices the newest postings removed or rewritten."""
import fcntl
import hmac
import json
import os
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from mall.ledger.errors import LedgerError
from mall.ledger.models import LedgerHead, Transfer
from mall.ledger.seals import SEALED, as_utc, hash_time, ledger_key, seal, seal_of
from mall.settings import settings_of

CHAIN_HEAD = select(LedgerHead.last_hash, LedgerHead.last_transfer_id).where(LedgerHead.id == 1)


def record_of(text: str) -> dict | None:
    """A checkpoint line as a record, or None if it is not one."""
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if (isinstance(record, dict) and type(record.get("transfer_id")) is int
            and all(isinstance(record.get(name), str) for name in ("hash", "at", "seal"))):
        return record
    return None


def _checkpoint_seal(key: bytes, record: dict) -> str:
    return seal(key, "checkpoint", [record[column] for column in SEALED["checkpoint"]])


def is_sealed(key: bytes, record: dict) -> bool:
    """Whether the record carries the seal of ``key`` (else it was forged or altered)."""
    return hmac.compare_digest(_checkpoint_seal(key, record), record["seal"])


def _tail(f, count: int) -> list[dict]:
    """The newest ``count`` well-formed records of a checkpoint file open in binary, newest first,
    read from its end (a record is about 250 bytes)."""
    size = f.seek(0, os.SEEK_END)
    f.seek(max(0, size - 400 * (count + 1)))
    lines = f.read().decode("utf-8", "replace").splitlines()[-count:]
    return [record for record in map(record_of, reversed(lines)) if record is not None]


def latest_checkpoints(session: Session, count: int = 5) -> list[dict]:
    """The newest ``count`` sealed checkpoint records, newest first, with ``at`` as a datetime: what
    the transparency page publishes."""
    path = settings_of(session).checkpoint_file
    if not path or not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        records = _tail(f, count)
    key, result = ledger_key(session), []
    for record in records:
        try:
            at = datetime.fromisoformat(record["at"].removesuffix("Z")).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
        if is_sealed(key, record):
            result.append({**record, "at": at})
    return result


def checkpoint(session: Session, now: datetime | None = None) -> tuple[dict | None, bool]:
    """Append a sealed record of the chain head (its transfer id and hash, and the time) to the
    checkpoint file, outside the database; returns (the newest record, whether it was written).

    Run it every few minutes: a record that leaves the database lets ``verify`` notice the chain's
    newest postings removed or rewritten, which no seal inside it can show. Idempotent: nothing is
    written while the head has not moved. Refused when the head's transfer is not sealed by this
    ledger or the chain is behind the newest checkpoint (``verify`` says more)."""
    path = settings_of(session).checkpoint_file
    if not path:
        raise LedgerError("No checkpoint file is configured (LEDGER_CHECKPOINT_FILE).", code="no-checkpoint-file")
    head = session.execute(CHAIN_HEAD).first()
    if head is None or head.last_transfer_id == 0:
        return None, False
    t = session.get(Transfer, head.last_transfer_id)
    if t is None or t.hash != head.last_hash or t.mac != seal_of(t):
        raise LedgerError(f"The chain head (transfer {head.last_transfer_id}) is not a transfer sealed by this "
                          f"ledger: run `flask ledger verify`.", code="head-unsealed")
    record = {"transfer_id": t.id, "hash": t.hash, "at": hash_time(as_utc(now))}
    key = ledger_key(session)
    record["seal"] = _checkpoint_seal(key, record)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # two runs at once: the second sees the first's record
        newest = next((r for r in _tail(f, 3) if is_sealed(key, r)), None)  # a forged line decides nothing
        if newest is not None and newest["transfer_id"] == t.id and newest["hash"] == t.hash:
            return newest, False
        if newest is not None and newest["transfer_id"] > t.id:
            raise LedgerError(f"The chain ends at transfer {t.id}, before the newest checkpoint's transfer "
                              f"{newest['transfer_id']}: run `flask ledger verify`.", code="chain-behind")
        end = f.seek(0, os.SEEK_END)
        if end and (f.seek(end - 1), f.read(1))[1] != b"\n":
            f.write(b"\n")  # a record cut short by a crash stays a line of its own
        f.write((json.dumps(record, sort_keys=True) + "\n").encode())
        f.flush()
        os.fsync(f.fileno())
    return record, True
