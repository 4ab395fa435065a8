"""Every Flask extension is created here, once, and bound in create_app."""
from flask import current_app, has_app_context
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from flask_wtf.csrf import CSRFProtect

from mall.models import Base


class MallSession(FlaskSession):
    """A database session that carries its app's settings (``mall.settings.settings_of``), so services
    and the ledger read them without importing Flask."""

    def __init__(self, db, **kwargs):
        super().__init__(db, **kwargs)
        if has_app_context() and "mall.settings" in current_app.extensions:
            self.info["settings"] = current_app.extensions["mall.settings"]


db = SQLAlchemy(model_class=Base, session_options={"class_": MallSession})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[], strategy="fixed-window")
