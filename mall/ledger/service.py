"""The ledger's one public face: every area posts, reads and verifies through these names
(``from mall.ledger import service as ledger``). Callers own the transaction; the ledger flushes.
The design is in ``mall/ledger/__init__.py``; each name lives in the module of its topic."""
from mall.ledger.accounts import (
    ensure_system_accounts, find_account, lock_accounts, member_account, member_account_columns, open_account,
    set_frozen, system_account,
)
from mall.ledger.checkpoints import checkpoint, latest_checkpoints
from mall.ledger.errors import FROZEN_MESSAGE, AccountFrozen, IdempotencyConflict, InsufficientPoints, LedgerError
from mall.ledger.lots import expiring_lots, expiring_summary, open_lots, spendable
from mall.ledger.posting import Leg, Posting, expire, give_back, post, returned, reverse, transfer
from mall.ledger.reads import StatementRow, daily_digest, member_balance, statement, totals_by_kind
from mall.ledger.sealing import seal as seal_block
from mall.ledger.sealing import seal_all, tip
from mall.ledger.seals import GENESIS, SEALED, block_hash, chain_hash, content_hash, link_hash, seal
from mall.ledger.verify import Report, verify

__all__ = [
    # refusals
    "LedgerError", "InsufficientPoints", "AccountFrozen", "IdempotencyConflict", "FROZEN_MESSAGE",
    # accounts
    "open_account", "find_account", "member_account", "member_account_columns", "system_account", "ensure_system_accounts",
    "set_frozen", "lock_accounts",
    # posting
    "Leg", "Posting", "post", "transfer", "reverse", "give_back", "returned", "expire",
    # lots
    "spendable", "open_lots", "expiring_lots", "expiring_summary",
    # reads
    "member_balance", "StatementRow", "statement", "totals_by_kind", "daily_digest",
    # tamper evidence
    "GENESIS", "SEALED", "chain_hash", "content_hash", "link_hash", "block_hash", "seal", "checkpoint",
    "latest_checkpoints", "Report", "verify",
    # sealing transfers into blocks
    "seal_block", "seal_all", "tip",
]
