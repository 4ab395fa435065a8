"""Problem details (RFC 9457) for the JSON API: every error under /api/ is answered here, with a
stable ``type`` per refusal."""
import json

from flask import Response
from werkzeug.exceptions import HTTPException

from mall.errors import DomainError


def dump(payload) -> str:
    """JSON as the API writes it: compact, sorted keys, Chinese kept readable."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def problem_body(status: int, code: str, title: str, detail: str = "", **extra) -> str:
    return dump({"type": f"/api/v1/problems/{code}", "title": title, "status": status,
                 "detail": detail or title, **extra})


def json_response(status: int, body: str) -> Response:
    mimetype = "application/problem+json" if status >= 400 else "application/json"
    return Response(body, status=status, mimetype=mimetype)


def problem(status: int, code: str, title: str, detail: str = "", **extra) -> Response:
    return json_response(status, problem_body(status, code, title, detail, **extra))


def domain_problem_body(err: DomainError) -> str:
    extra = {"errors": err.errors} if hasattr(err, "errors") else {}
    extra.update({k: v for k, v in err.params.items() if isinstance(v, (int, str))})
    return problem_body(err.status, err.code, str(err.message), **extra)


def domain_problem(err: DomainError) -> Response:
    """A refusal as problem+json with its stable type."""
    return json_response(err.status, domain_problem_body(err))


def http_problem(err: HTTPException) -> Response:
    """Any HTTP error under /api/ as problem details; a 405 names the allowed methods in ``Allow``."""
    response = problem(err.code or 500, err.name.lower().replace(" ", "-"), err.name, err.description or "")
    if getattr(err, "valid_methods", None):
        response.headers["Allow"] = ", ".join(sorted(err.valid_methods))
    return response
