"""The points ledger: double-entry accounts, append-only transfers, expiring lots. No Flask, no area.

Accounts (``accounts``) belong to an owner: a member, a family pool, a merchant, a charity project, or
the programme itself (issuance, redemption, expiry, …). Members', families' and charities' accounts are
guarded: they never go below zero. Points move only by ``posting.post``: one or more legs (debit,
credit, amount, kind) written together or not at all, each an immutable transfer; an idempotency key
makes a retried request a replay. A mistake is undone by a new transfer (``reverse``, ``give_back``),
never by editing one. Members' and families' points sit in lots (``lots``) dated by the expiry policy;
a spend draws the earliest-expiring first, points moved between members keep their dates, and
``expire`` posts what a lot still holds past its date to the expiry account.

Tamper evidence (``seals``): each transfer's hash covers its fields and the hash before it, a chain
whose end the head row holds; every row also carries a keyed seal (LEDGER_KEY, never in the database).
Checkpoints (``checkpoints``) copy the sealed head to a file outside the database, so removed or
rewritten recent postings show too. ``verify`` checks it all: each balance equals credits less debits
and what its lots hold, balances sum to zero, each lot holds its amount less its draws, every seal and
hash holds, and the chain reaches every checkpoint.

Callers own the transaction (``mall.edge.run``); the ledger only flushes. Every posting locks the head
row first, then its accounts in id order, so concurrent postings queue and never deadlock. Other areas
use the names of ``service`` only; settings (key, expiry policy, checkpoint file) come from
``mall.settings.settings_of(session)`` on every call.
"""
