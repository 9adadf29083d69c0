"""Imports every capability's tables so Alembic and tests see one complete metadata."""

from fieldcast.accounts import models as accounts_models
from fieldcast.catalog import models as catalog_models
from fieldcast.db.base import Base
from fieldcast.integrity import models as integrity_models
from fieldcast.live import models as live_models
from fieldcast.media import models as media_models
from fieldcast.realtime.chat import models as chat_models
from fieldcast.realtime.draws import models as draw_models
from fieldcast.web import idempotency as idempotency_models

metadata = Base.metadata
__all__ = [
    "accounts_models",
    "catalog_models",
    "chat_models",
    "draw_models",
    "idempotency_models",
    "integrity_models",
    "live_models",
    "media_models",
    "metadata",
]
