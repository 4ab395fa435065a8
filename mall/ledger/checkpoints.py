"""Checkpoints: sealed records of the block chain's tip, appended to a file outside the database
(LEDGER_CHECKPOINT_FILE), so ``verify`` notices the newest blocks removed or rewritten. Records written
before blocks existed name the legacy chain's last transfer instead (``transfer_id``); ``verify`` still
holds the transfers to them."""
import fcntl
import hmac
import json
import os
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from mall.ledger.errors import LedgerError
from mall.ledger.models import Block, LedgerHead
from mall.ledger.seals import SEALED, as_utc, hash_time, ledger_key, seal, seal_of
from mall.settings import settings_of

LEGACY_END = select(LedgerHead.last_hash, LedgerHead.last_transfer_id).where(LedgerHead.id == 1)


def record_of(text: str) -> dict | None:
    """A checkpoint line as a record, or None if it is not one."""
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if (isinstance(record, dict) and (type(record.get("block_id")) is int or type(record.get("transfer_id")) is int)
            and all(isinstance(record.get(name), str) for name in ("hash", "at", "seal"))):
        return record
    return None


def _checkpoint_seal(key: bytes, record: dict) -> str:
    table = "block_checkpoint" if "block_id" in record else "checkpoint"
    return seal(key, table, [record[column] for column in SEALED[table]])


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
    """Append a sealed record of the block chain's tip (its block id and hash, and the time) to the
    checkpoint file, outside the database; returns (the newest record, whether it was written).

    Run it every few minutes, after the sealer: a record that leaves the database lets ``verify``
    notice the newest blocks removed or rewritten, which no seal inside it can show. Idempotent:
    nothing is written while the tip has not moved. Refused when the tip block is not sealed by this
    ledger or the chain is behind the newest checkpoint (``verify`` says more)."""
    path = settings_of(session).checkpoint_file
    if not path:
        raise LedgerError("No checkpoint file is configured (LEDGER_CHECKPOINT_FILE).", code="no-checkpoint-file")
    tip = session.scalar(select(Block).order_by(Block.id.desc()).limit(1))
    if tip is None:
        return None, False
    if tip.mac != seal_of(tip):
        raise LedgerError(f"The chain's tip (block {tip.id}) is not a block sealed by this ledger: run "
                          f"`flask ledger verify`.", code="head-unsealed")
    record = {"block_id": tip.id, "hash": tip.hash, "at": hash_time(as_utc(now))}
    key = ledger_key(session)
    record["seal"] = _checkpoint_seal(key, record)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # two runs at once: the second sees the first's record
        newest = next((r for r in _tail(f, 3) if is_sealed(key, r) and "block_id" in r), None)  # forged: ignored
        if newest is not None and newest["block_id"] == tip.id and newest["hash"] == tip.hash:
            return newest, False
        if newest is not None and newest["block_id"] > tip.id:
            raise LedgerError(f"The chain ends at block {tip.id}, before the newest checkpoint's block "
                              f"{newest['block_id']}: run `flask ledger verify`.", code="chain-behind")
        end = f.seek(0, os.SEEK_END)
        if end and (f.seek(end - 1), f.read(1))[1] != b"\n":
            f.write(b"\n")  # a record cut short by a crash stays a line of its own
        f.write((json.dumps(record, sort_keys=True) + "\n").encode())
        f.flush()
        os.fsync(f.fileno())
    return record, True
