"""The operator console's blueprint, shared by its two page modules (views.py: rule sets; console.py:
merchants, members, fraud cases, the audit trail and reports); create_app imports both."""
from flask import Blueprint

admin = Blueprint("admin", __name__, url_prefix="/admin")
