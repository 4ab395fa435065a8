"""Tamper evidence: each transfer's content hash, the hash chain of blocks the sealer links transfers
into (``mall.ledger.sealing``), and the keyed seal each ledger row carries. All cover instants as UTC
text, so no result depends on the server's zone."""
import hashlib
import hmac
from datetime import datetime, timezone

from sqlalchemy.orm import Session, object_session

from mall.clock import utcnow
from mall.settings import settings_of

GENESIS = "0" * 64  # the hash "before" the first transfer (of the legacy chain) and the first block

# The columns each row's seal covers, the row's id first and the one free-text column last.
SEALED = {
    "ledger_account": ("id", "owner_kind", "owner_id", "guarded", "frozen", "name"),
    "ledger_transfer": ("id", "hash", "fingerprint", "batch_key"),
    "ledger_lot": ("id", "account_id", "transfer_id", "amount", "expires_at", "origin_lot_id"),
    "ledger_lot_draw": ("id", "transfer_id", "lot_id", "amount"),
    "ledger_block": ("id", "prev_hash", "hash", "first_transfer_id", "last_transfer_id", "transfers", "sealed_at"),
    "checkpoint": ("transfer_id", "hash", "at"),  # a checkpoint of the legacy chain's end (before blocks)
    "block_checkpoint": ("block_id", "hash", "at"),  # a checkpoint of the block chain's tip
}


def as_utc(now: datetime | None) -> datetime:
    """The given instant in UTC (the current one if None). A naive datetime is refused: read in the
    server's local zone it would make the ledger's results depend on TZ."""
    if now is None:
        return utcnow()
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("the ledger needs an aware datetime for `now`")
    return now.astimezone(timezone.utc)


def hash_time(value) -> str:
    """The instant as the hash covers it: UTC, microseconds, e.g. 2026-05-01T09:00:00.000000Z.
    Takes a datetime (aware, or naive UTC) or SQLite's stored text of a naive UTC datetime."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":  # "2026-05-01 09:00:00.000000", as SQLAlchemy stores it
            return f"{value[:10]}T{value[11:]}Z"
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def link_hash(prev, id_, debit, credit, amount, kind, key, actor, ref_type, ref_id, memo, reverses, created) -> str:
    """The chain hash from a transfer's fields as ``verify`` reads them (see ``chain_hash``)."""
    body = (f"{prev}|{id_}|{debit}|{credit}|{amount}|{kind}|{key}|{'' if actor is None else actor}|"
            f"{ref_type or ''}|{ref_id or ''}|{memo or ''}|{'' if reverses is None else reverses}|"
            f"{hash_time(created)}")
    return hashlib.sha256(body.encode()).hexdigest()


def chain_hash(prev: str, t) -> str:
    """The tamper-evident hash of a transfer: its fields and the hash before it.

    ``t`` may be a Transfer or any row with the same attribute names (as ``verify`` reads them)."""
    return link_hash(prev, t.id, t.debit_account_id, t.credit_account_id, t.amount, t.kind, t.idempotency_key,
                     t.actor_id, t.ref_type, t.ref_id, t.memo, t.reverses_id, t.created_at)


def content_hash(t) -> str:
    """A transfer's own hash: its fields alone (the chain hash on a fixed predecessor), computed when it
    is posted, so postings share nothing; the sealer chains these into blocks."""
    return chain_hash(GENESIS, t)


def block_hasher(prev: str, block_id: int):
    """A running hash of a block: ``add_member`` feeds its transfers in id order."""
    return hashlib.sha256(f"ledger_block|{prev}|{block_id}|".encode())


def add_member(hasher, transfer_id: int, transfer_hash: str) -> None:
    hasher.update(f"{transfer_id}:{transfer_hash}|".encode())


def block_hash(prev: str, block_id: int, members) -> str:
    """The hash of a block: the previous block's hash, its id and its members' (id, hash) in id order."""
    hasher = block_hasher(prev, block_id)
    for transfer_id, transfer_hash in members:
        add_member(hasher, transfer_id, transfer_hash)
    return hasher.hexdigest()


def ledger_key(session: Session) -> bytes:
    """The key that seals rows, from the settings of the session's app."""
    return settings_of(session).ledger_key


# Each table's sealed values as text, alike whichever database they come from (booleans are 0/1 on
# SQLite, instants are text there): written out per table, as verify seals every row of the ledger.
_BODIES = {
    "ledger_account": lambda id_, kind, owner, guarded, frozen, name:
        f"{id_}|{kind}|{owner}|{1 if guarded else 0}|{1 if frozen else 0}|{name}",
    "ledger_transfer": lambda id_, hash_, print_, batch: f"{id_}|{hash_}|{print_}|{batch}",
    "ledger_lot": lambda id_, account, transfer, amount, expires, origin:
        f"{id_}|{account}|{transfer}|{amount}|{'' if expires is None else hash_time(expires)}|"
        f"{'' if origin is None else origin}",
    "ledger_lot_draw": lambda id_, transfer, lot, amount: f"{id_}|{transfer}|{lot}|{amount}",
    "ledger_block": lambda id_, prev, hash_, first, last, count, sealed:
        f"{id_}|{prev}|{hash_}|{first}|{last}|{count}|{hash_time(sealed)}",
    "checkpoint": lambda transfer, hash_, at: f"{transfer}|{hash_}|{at}",
    "block_checkpoint": lambda block, hash_, at: f"{block}|{hash_}|{at}",
}


def seal(key: bytes, table: str, values) -> str:
    """The keyed seal (HMAC-SHA256) of a row of ``table``: ``values`` are its SEALED columns, in order.

    Why a seal per row, beside the hashes: hashing is public, so whoever can write the database can
    rewrite a transfer and its hash, or append a posting with a correct hash, balance and lot, and
    the hashes alone still look whole. A seal needs LEDGER_KEY, which the database never holds. Every
    field that decides whose points they are or when they expire is sealed: an account's owner, name,
    guard and freeze; a lot's account, transfer, amount, expiry and origin; a draw's transfer, lot and
    amount; a transfer's hash (which covers all its other fields), fingerprint and batch key; a
    block's links and members' range. The id is sealed too, so a seal cannot be moved to another row.
    What changes in normal use is left out and derived instead (balances from transfers, a lot's
    remainder from its draws), or changes only through the ledger, which renews the seal
    (``set_frozen``; nothing moves a lot's expiry). A seal depends on its own row alone, so postings
    share no state at all. What a seal cannot show is a row that is missing: that is what blocks
    (a transfer's block is hashed over all its members) and checkpoints (sealed block tips kept
    outside the database, ``mall.ledger.checkpoints``) show, and what ``verify`` holds them to."""
    return hmac.digest(key, f"{table}|{_BODIES[table](*values)}".encode(), "sha256").hex()


def seal_of(row) -> str:
    """The seal an Account, Transfer, Lot, LotDraw or Block should carry."""
    table = row.__tablename__
    return seal(ledger_key(object_session(row)), table, [getattr(row, column) for column in SEALED[table]])


def seal_new(session: Session, rows) -> None:
    """Seal rows just added (a flush gives them the ids their seals cover)."""
    if rows:
        session.flush()
        for row in rows:
            row.mac = seal_of(row)
