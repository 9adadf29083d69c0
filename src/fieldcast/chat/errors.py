"""Domain errors of room chat, with stable codes."""

from fieldcast.errors import Conflict, Invalid, NotAllowed


class ChatClosed(Conflict):
    """The session is not live (or, for viewers, not yet live)."""

    code = "chat_closed"


class Muted(NotAllowed):
    code = "chat_muted"


class BannedWordUsed(Invalid):
    code = "banned_word"


class NotModerator(NotAllowed):
    code = "not_chat_moderator"


class CannotMuteModerator(NotAllowed):
    code = "cannot_mute_moderator"
