"""Tables of after-sales (售后): a buyer's refund request on an order, and its photos.

A request is "refund only" (仅退款: paid and not shipped, or shipped and never came) or "return
and refund" (退货退款: delivered; the buyer sends the goods back). Money is integer fen; the
request keeps how long after the show's end it was made, for the integrity rules
("refund-after-the-show")."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db.base import Base, IdType, Timestamped
from fieldcast.db.types import str_enum

NOTE_MAX = 500
DECISION_REASON_MAX = 200
CARRIER_MAX = 40
TRACKING_MAX = 40
PHOTOS_MAX = 3  # per request
PATH_MAX = 200


class RefundKind(StrEnum):
    REFUND_ONLY = "refund_only"  # 仅退款
    RETURN_AND_REFUND = "return_and_refund"  # 退货退款


class RefundReason(StrEnum):
    DAMAGED = "damaged"
    NOT_AS_DESCRIBED = "not_as_described"
    SPOILED = "spoiled_on_arrival"
    TOO_SLOW = "too_slow"
    NEVER_ARRIVED = "never_arrived"
    WRONG_ITEM = "wrong_item"
    CHANGED_MIND = "changed_mind"
    OTHER = "other"


class RefundRequestState(StrEnum):
    """requested ─approve▶ (refund only) refunding ─provider▶ refunded | refund_failed
                       (return) awaiting_return ─buyer ships back▶ returning ─supplier receives▶ refunding
    requested ─reject▶ rejected ─buyer escalates▶ escalated ─organiser▶ approved as above | closed
    requested ─N days unanswered▶ approved by the system (as above)."""

    REQUESTED = "requested"
    REJECTED = "rejected"
    ESCALATED = "escalated"
    CLOSED = "closed"  # refused for good (the organiser upheld the rejection)
    AWAITING_RETURN = "awaiting_return"
    RETURNING = "returning"
    REFUNDING = "refunding"
    REFUNDED = "refunded"
    REFUND_FAILED = "refund_failed"


# A request in one of these holds the order: no second one may be opened beside it.
OPEN_STATES = (
    RefundRequestState.REQUESTED,
    RefundRequestState.REJECTED,
    RefundRequestState.ESCALATED,
    RefundRequestState.AWAITING_RETURN,
    RefundRequestState.RETURNING,
    RefundRequestState.REFUNDING,
)
# Money counted as on its way or gone (it may not be asked for twice).
COMMITTED_STATES = (RefundRequestState.REFUNDING, RefundRequestState.REFUNDED)


class RefundRequest(Timestamped, Base):
    __tablename__ = "refund_requests"
    __table_args__ = (
        sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
        sa.CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        sa.Index("ix_refund_requests_state_created", "state", "created_at"),
    )

    order_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("orders.id", ondelete="RESTRICT"), index=True)
    # Whole order when None; else one line of it.
    order_line_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("order_lines.id", ondelete="RESTRICT"), default=None
    )
    buyer_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    organisation_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    supplier_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("suppliers.id", ondelete="RESTRICT"), index=True)
    session_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("live_sessions.id", ondelete="SET NULL"), index=True, default=None
    )
    kind: Mapped[RefundKind] = mapped_column(str_enum(RefundKind))
    reason: Mapped[RefundReason] = mapped_column(str_enum(RefundReason))
    note: Mapped[str] = mapped_column(sa.String(NOTE_MAX), default="")
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    # Units the request is about (of the line, or of the whole order): what may come back.
    quantity: Mapped[int] = mapped_column(default=0)
    state: Mapped[RefundRequestState] = mapped_column(
        str_enum(RefundRequestState), default=RefundRequestState.REQUESTED
    )
    order_state_at_request: Mapped[str] = mapped_column(sa.String(32))
    # Seconds from the show's end to the request (None: not bought in a show, or the show is on).
    seconds_after_show_end: Mapped[int | None] = mapped_column(sa.BigInteger, default=None)
    supplier_reason: Mapped[str] = mapped_column(sa.String(DECISION_REASON_MAX), default="")
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )  # None with decided_at set: approved automatically
    escalated_at: Mapped[datetime | None] = mapped_column(default=None)
    escalation_note: Mapped[str] = mapped_column(sa.String(NOTE_MAX), default="")
    organiser_reason: Mapped[str] = mapped_column(sa.String(DECISION_REASON_MAX), default="")
    arbitrated_at: Mapped[datetime | None] = mapped_column(default=None)
    arbitrated_by: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    return_carrier: Mapped[str] = mapped_column(sa.String(CARRIER_MAX), default="")
    return_tracking_no: Mapped[str] = mapped_column(sa.String(TRACKING_MAX), default="")
    returned_at: Mapped[datetime | None] = mapped_column(default=None)  # the supplier received it
    # Units put back on sale, per order line id: never for goods shipped and not returned.
    returned_lines: Mapped[dict[str, int]] = mapped_column(sa.JSON, default=dict)
    # The payment's refund (payments.refunds.id), once asked of the provider: one per request.
    refund_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("refunds.id", ondelete="RESTRICT"), unique=True, default=None
    )
    refunded_at: Mapped[datetime | None] = mapped_column(default=None)
    is_demo: Mapped[bool] = mapped_column(default=False)


class RefundPhoto(Base):
    """A photo the buyer attached, re-encoded without metadata (catalog/images.py)."""

    __tablename__ = "refund_photos"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("refund_requests.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(sa.String(PATH_MAX))
    thumb_path: Mapped[str] = mapped_column(sa.String(PATH_MAX))
    width: Mapped[int]
    height: Mapped[int]
