"""Integrity's domain errors, with stable codes (mapped to problem+json in one place)."""

from __future__ import annotations

from fieldcast.errors import Conflict, Invalid, NotFound


class AlertNotFound(NotFound):
    code = "alert_not_found"


class WrongAlertState(Conflict):
    code = "wrong_alert_state"


class NoteNeeded(Invalid):
    code = "note_needed"
