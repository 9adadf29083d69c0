"""Domain errors of live rooms, with stable codes."""

from fieldcast.errors import Conflict, Invalid, NotAllowed


class WrongState(Conflict):
    """The session is not in a state that allows this (e.g. pinning before it is live)."""

    code = "wrong_state"


class HostNotEligible(Invalid):
    code = "host_not_eligible"


class OfficialNeedsPublicWelfare(Invalid):
    """An official may host only public-welfare sessions."""

    code = "official_needs_public_welfare"


class TitleNeedsOverride(Conflict):
    code = "claims_need_override"


class ShelfRefused(Invalid):
    code = "shelf_refused"


class NotOperator(NotAllowed):
    code = "not_session_operator"
