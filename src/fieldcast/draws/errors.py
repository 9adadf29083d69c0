"""Domain errors of lucky draws, with stable codes."""

from fieldcast.errors import Conflict, NotAllowed


class DrawWrongState(Conflict):
    """The draw is not in a state that allows this (e.g. entering a draw that is not open)."""

    code = "draw_wrong_state"


class NotEligible(NotAllowed):
    """This person may not enter this draw (a host of the show, or the wrong way to enter)."""

    code = "draw_not_eligible"
