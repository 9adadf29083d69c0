"""After-sales' domain errors, with stable codes (mapped to problem+json in one place)."""

from __future__ import annotations

from fieldcast.errors import Conflict, Invalid, NotAllowed


class NotRefundable(Conflict):
    code = "not_refundable"


class RequestOpen(Conflict):
    code = "refund_request_open"


class WrongRequestState(Conflict):
    code = "wrong_refund_request_state"


class BadRefundAmount(Invalid):
    code = "bad_refund_amount"


class BadRefundInput(Invalid):
    code = "bad_refund_input"


class TooManyPhotos(Conflict):
    code = "too_many_photos"


class NotTheBuyer(NotAllowed):
    code = "not_the_buyer"
