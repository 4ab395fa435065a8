"""The ledger's refusals. Messages are plain English; the edge translates them (``mall.edge.message_of``)."""
from mall.errors import DomainError, InsufficientPoints

__all__ = ["FROZEN_MESSAGE", "AccountFrozen", "IdempotencyConflict", "InsufficientPoints", "LedgerError"]

FROZEN_MESSAGE = ("Your points are frozen while a fraud case is reviewed: you can still earn, but not spend, gift or "
                  "donate. Your account page says why and how to appeal.")


class LedgerError(DomainError):
    """A posting or ledger duty refused as malformed: a bad amount, kind or key, a self-transfer, a
    reversal of a reversal, no checkpoint file, a chain head the ledger did not seal."""

    code = "ledger"


class AccountFrozen(LedgerError):
    """A frozen account (a fraud case is open) asked to pay for something its member chose to do."""

    status = 403
    code = "account-frozen"


class IdempotencyConflict(LedgerError):
    """An idempotency key posted again with other content than the first time."""

    status = 422
    code = "idempotency-conflict"
