"""Domain errors raised by services and turned into messages, 4xx pages or problem details by views."""


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
    status = 404
    code = "not-found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
