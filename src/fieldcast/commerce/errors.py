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


class UnknownCarrier(Invalid):
    code = "unknown_carrier"


class BadTrackingNumber(Invalid):
    code = "bad_tracking_number"


class BadShipmentFile(Invalid):
    """An uploaded shipments file that cannot be applied: every bad row is in `rows`, and none of
    the file was applied."""

    code = "bad_shipment_file"

    def __init__(self, message: str, rows: list[RowProblem], **params: object) -> None:
        super().__init__(message, field="file", **params)
        self.rows = rows


class RowProblem:
    """One bad row of an uploaded file: its number as the spreadsheet shows it, the column at
    fault and why (a catalogue msgid with its params)."""

    __slots__ = ("column", "message", "params", "row")

    def __init__(self, row: int, column: str, message: str, **params: object) -> None:
        self.row = row
        self.column = column
        self.message = message
        self.params = params
