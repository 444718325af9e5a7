"""Extensions, created unbound; create_app() binds them."""

from flask_bcrypt import Bcrypt
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData

from .limiting import RouteLimiter

# Named constraints keep migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# expire_on_commit=False: the current user stays loaded after a commit, so a
# protected request does not pay a second SELECT to read it back.
db = SQLAlchemy(
    metadata=MetaData(naming_convention=NAMING_CONVENTION),
    session_options={"expire_on_commit": False},
)
migrate = Migrate()
bcrypt = Bcrypt()
# Flask-Limiter, minus its per-request work on routes that have no limit (limiting.py).
limiter = RouteLimiter(key_func=get_remote_address, default_limits=[])
