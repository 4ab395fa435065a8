"""The payment gateway interface, and a sandbox that behaves like a real gateway.

A real gateway authorises an amount, then captures it, or voids the authorisation. It can decline,
and it can time out (the caller then does not know whether money was taken: it voids).
The sandbox decides by the payment token the member chose, as test cards do:
``tok_approve`` approves, ``tok_decline`` declines, ``tok_timeout`` times out.
"""
import secrets
import threading
import time

from mall.errors import DomainError


class PaymentDeclined(DomainError):
    status = 402
    code = "payment-declined"


class PaymentTimeout(DomainError):
    status = 504
    code = "payment-timeout"


class SandboxGateway:
    TOKENS = ("tok_approve", "tok_decline", "tok_timeout")

    def __init__(self, timeout_seconds: float = 0.2):
        self.timeout_seconds = timeout_seconds
        self._lock = threading.Lock()
        self.authorisations: dict[str, dict] = {}

    def authorise(self, amount_fen: int, token: str, idempotency_key: str) -> str:
        with self._lock:
            for ref, auth in self.authorisations.items():
                if auth["key"] == idempotency_key:
                    return ref
        if token == "tok_decline":
            raise PaymentDeclined("The card was declined.")
        if token == "tok_timeout":
            time.sleep(self.timeout_seconds)
            raise PaymentTimeout("The payment service did not answer in time.")
        if token != "tok_approve":
            raise PaymentDeclined("Unknown payment method.")
        ref = "sbx_" + secrets.token_hex(8)
        with self._lock:
            self.authorisations[ref] = {"amount": amount_fen, "status": "authorised", "key": idempotency_key}
        return ref

    def _move(self, ref: str, source: set, target: str) -> None:
        with self._lock:
            auth = self.authorisations.get(ref)
            if auth is None:
                raise PaymentDeclined("Unknown payment reference.")
            if auth["status"] == target:
                return
            if auth["status"] not in source:
                raise PaymentDeclined(f"Cannot {target} a payment that is {auth['status']}.")
            auth["status"] = target

    def capture(self, ref: str) -> None:
        self._move(ref, {"authorised"}, "captured")

    def void(self, ref: str) -> None:
        self._move(ref, {"authorised"}, "voided")

    def refund(self, ref: str, amount_fen: int | None = None) -> None:
        """Refund all of a captured payment, or ``amount_fen`` of it (several partial refunds add up)."""
        with self._lock:
            auth = self.authorisations.get(ref)
            if auth is None or auth["status"] not in ("captured", "partly_refunded"):
                raise PaymentDeclined("Only a captured payment can be refunded.")
            refunded = auth.get("refunded", 0) + (auth["amount"] - auth.get("refunded", 0) if amount_fen is None else amount_fen)
            if refunded > auth["amount"]:
                raise PaymentDeclined("The refund is larger than the payment.")
            auth["refunded"] = refunded
            auth["status"] = "refunded" if refunded == auth["amount"] else "partly_refunded"


_gateway = SandboxGateway()


def gateway() -> SandboxGateway:
    return _gateway
