"""Commerce's domain errors, with stable codes (mapped to problem+json in one place)."""

from __future__ import annotations

from fieldcast.errors import Conflict, Invalid, NotAllowed


class SoldOut(Conflict):
    code = "sold_out"


class LimitReached(Conflict):
    code = "per_buyer_limit_reached"


class NotOnSale(Invalid):
    code = "not_on_sale"


class FlashNotStarted(Conflict):
    code = "flash_sale_not_started"


class WrongOrderState(Conflict):
    code = "wrong_order_state"


class NotYourOrder(NotAllowed):
    code = "not_your_order"


class BadAddress(Invalid):
    code = "bad_address"


class BadPhone(Invalid):
    code = "bad_phone"


class TooManyAddresses(Conflict):
    code = "too_many_addresses"


class CartFull(Conflict):
    code = "cart_full"
