"""Domain errors of clips, with stable codes (mapped to problem+json in one place)."""

from __future__ import annotations

from fieldcast.errors import Conflict, Invalid, NotAllowed


class NotClipper(NotAllowed):
    """Only the show's hosts and its organisation's owners and organisers cut and manage clips."""

    code = "not_clip_manager"


class NoReplay(Conflict):
    """The show has no ready replay (not ended, still being built, or failed)."""

    code = "no_replay"


class BadClip(Invalid):
    """A clip asked for outside the limits: its length, its place in the replay, its title, its
    product or mark."""

    code = "bad_clip"


class ClipNotReady(Conflict):
    code = "clip_not_ready"
