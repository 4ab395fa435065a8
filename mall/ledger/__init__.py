"""The points ledger: double-entry accounts, append-only transfers, expiring lots. No Flask, no area.

Accounts (``accounts``) belong to an owner: a member, a family pool, a merchant, a charity project, or
the programme itself (issuance, redemption, expiry, …). Members', families' and charities' accounts are
guarded: they never go below zero. Points move only by ``posting.post``: one or more legs (debit,
credit, amount, kind) written together or not at all, each an immutable transfer; an idempotency key
makes a retried request a replay. A mistake is undone by a new transfer (``reverse``, ``give_back``),
never by editing one. Members' and families' points sit in lots (``lots``) dated by the expiry policy;
a spend draws the earliest-expiring first, points moved between members keep their dates, and
``expire`` posts what a lot still holds past its date to the expiry account.

Tamper evidence (``seals``, ``sealing``): each transfer carries its own content hash (its fields) and
every row a keyed seal (LEDGER_KEY, never in the database). The sealer (``sealing.seal``, run by
``flask ledger seal --follow``) chains committed transfers into blocks: a block's hash covers the
previous block's hash and its members' ids and hashes in id order. Checkpoints (``checkpoints``) copy
the sealed block tip to a file outside the database, so removed or rewritten recent blocks show too.
``verify`` checks it all: each balance equals credits less debits and what its lots hold, balances
sum to zero, each lot holds its amount less its draws, every seal and hash holds, every block
recomputes from its members and its predecessor, the chain reaches every checkpoint, and no transfer
waits longer than LEDGER_SEAL_LAG_SECONDS for its block. Transfers posted before blocks existed keep
their old chained hashes and are checked as that chain (it ends where the head row says).

Callers own the transaction (``mall.edge.run``); the ledger only flushes. No row is shared by every
posting: a posting locks only its exact accounts (guarded ones, and the game budget), in id order,
through ``lock_accounts``; the unguarded accounts nearly every posting touches (system and merchant
accounts) are sharded: their balance is the balance column plus counter rows (``BalanceShard``) that a
posting adds to with an upsert, one random shard per posting, in account order, last. ``Account.balance``
reads the sum, in Python and in SQL. Only sealers contend, on the head row. Other areas use the names of
``service`` only; settings (key, expiry policy, checkpoint file, sealing lag) come from
``mall.settings.settings_of(session)`` on every call. The design and its trade-offs: docs/ledger.md.
"""
