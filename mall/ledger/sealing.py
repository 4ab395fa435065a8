"""Sealing: the one place the ledger is serial. Postings commit side by side, each transfer with its own
content hash and seal; ``seal`` then takes the committed transfers no block holds yet, in id order,
and chains them into a new block whose hash covers the previous block's hash and every member's id
and hash. Run it continuously (``flask ledger seal --follow``) and on demand.

Only sealers contend, on the head row. A transfer whose id is lower than one already sealed (its
transaction took the id first but committed later) simply lands in a later block: a block's members
are ordered by id among themselves, and nothing needs blocks to cover disjoint id ranges; what
matters is that every committed transfer ends up in exactly one block and that a block, once
sealed, can no longer change. ``verify`` reports transfers left unsealed longer than
LEDGER_SEAL_LAG_SECONDS."""
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mall.ledger.accounts import lock_head
from mall.ledger.errors import LedgerError
from mall.ledger.models import Block, Transfer
from mall.ledger.seals import GENESIS, as_utc, block_hash, content_hash, seal_of

SEAL_LIMIT = 5000  # transfers per block at most


def tip(session: Session) -> Block | None:
    """The newest block, the end of the block chain (None before the first)."""
    return session.scalar(select(Block).order_by(Block.id.desc()).limit(1))


def seal(session: Session, now: datetime | None = None, limit: int = SEAL_LIMIT) -> Block | None:
    """Chain the committed transfers no block holds yet (up to ``limit``, lowest ids first) into a new
    block; returns it, or None when there was nothing to seal. Refused (LedgerError) when one of them
    does not carry its content hash and this ledger's seal: sealing it would launder a forged row."""
    now = as_utc(now)
    head = lock_head(session)  # one sealer at a time; postings never wait on this row
    members = session.scalars(select(Transfer).where(Transfer.block_id.is_(None))
                              .order_by(Transfer.id).limit(max(1, limit))).all()
    if not members:
        return None
    for t in members:
        legacy = t.id <= head.last_transfer_id  # chained before blocks existed: verify checks that chain
        if (not legacy and t.hash != content_hash(t)) or t.mac != seal_of(t):
            raise LedgerError(f"Transfer {t.id} does not carry its own hash and this ledger's seal: run "
                              f"`flask ledger verify`.", code="transfer-unsealed")
    last = tip(session)
    prev = last.hash if last is not None else GENESIS
    block = Block(prev_hash=prev, hash="", first_transfer_id=members[0].id, last_transfer_id=members[-1].id,
                  transfers=len(members), sealed_at=now)
    session.add(block)
    session.flush()
    block.hash = block_hash(prev, block.id, [(t.id, t.hash) for t in members])
    block.mac = seal_of(block)
    ids = [t.id for t in members]
    for start in range(0, len(ids), 500):  # by explicit ids: a transfer committed meanwhile is not a member
        session.execute(update(Transfer).where(Transfer.id.in_(ids[start:start + 500]), Transfer.block_id.is_(None))
                        .values(block_id=block.id).execution_options(synchronize_session=False))
    session.flush()
    for t in members:
        session.expire(t, ["block_id"])
    return block


def seal_all(session: Session, now: datetime | None = None, limit: int = SEAL_LIMIT) -> list[Block]:
    """Seal until nothing is left (tests and one-off runs; the CLI commits block by block)."""
    blocks = []
    while (block := seal(session, now, limit)) is not None:
        blocks.append(block)
    return blocks
