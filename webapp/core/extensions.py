"""Extensions live at module level and are bound to an app in ``create_app``."""

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


# Rows live for one request; re-reading every attribute after each commit (SQLAlchemy's
# default) would cost a second query just to send back what was written.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
csrf = CSRFProtect()
migrate = Migrate()
