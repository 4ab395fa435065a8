"""Domain errors raised by services; the edge (mall.edge) turns them into messages, 4xx pages or
problem details, once. No Flask imports."""


class DomainError(Exception):
    """A use case refused: ``message`` is shown to the user (translated), ``code`` is stable for APIs."""

    status = 422
    code = "invalid"
    # A refusal that records something which must stand (a wrong one-time code is counted): ``write()``
    # commits what the use case flushed before it raises, instead of rolling it back.
    commits = False

    def __init__(self, message, code: str | None = None, **params):
        super().__init__(str(message))
        self.message = message
        self.params = params
        if code:
            self.code = code


class NotFound(DomainError):
    """The thing does not exist, or not for this caller (authorization is per object): a 404."""

    status = 404
    code = "not-found"


class Conflict(DomainError):
    """The request is valid but the state refuses it now (already done, sold out, limit reached): a 409."""

    status = 409
    code = "conflict"


class InsufficientPoints(Conflict):
    """The one "not enough points" refusal, wherever points are spent; ``needed`` says how many more."""

    code = "insufficient-points"
