"""Translated display names for enum values and audit actions (the API keeps the raw values).

Domain code may pass a LabelList as an error parameter: it is translated when the message is shown."""

from __future__ import annotations

from collections.abc import Iterable

from fieldcast.i18n import N_, gettext

LABELS: dict[str, dict[str, str]] = {
    "org_kind": {
        "government": N_("Government office"),
        "association": N_("Association"),
        "cooperative": N_("Cooperative"),
        "enterprise": N_("Enterprise"),
        "inspection_authority": N_("Inspection authority"),
    },
    "role": {
        "owner": N_("Owner"),
        "organiser": N_("Organiser"),
        "host": N_("Host"),
        "supplier": N_("Supplier"),
        "inspector": N_("Inspector"),
        "supervisor": N_("Supervisor"),
    },
    "host_kind": {
        "official": N_("Public official"),
        "first_secretary": N_("Village first secretary"),
        "farmer": N_("Farmer"),
        "enterprise_staff": N_("Enterprise staff"),
        "other": N_("Other"),
    },
    "review_tag_good": {
        "freshness": N_("Fresh"),
        "taste": N_("Tastes good"),
        "as_described": N_("As described"),
        "packaging_size": N_("Packaging fits"),
        "delivery_speed": N_("Fast delivery"),
        "service": N_("Good service"),
    },
    "review_tag_bad": {
        "freshness": N_("Not fresh"),
        "taste": N_("Tastes poor"),
        "as_described": N_("Not as described"),
        "packaging_size": N_("Packaging too big or small"),
        "delivery_speed": N_("Slow delivery"),
        "service": N_("Poor service"),
    },
    "review_tag": {
        "freshness": N_("Freshness"),
        "taste": N_("Taste"),
        "as_described": N_("As described"),
        "packaging_size": N_("Packaging size"),
        "delivery_speed": N_("Delivery speed"),
        "service": N_("Service"),
    },
    "removal_ground": {
        "personal_information": N_("Someone's personal information"),
        "defamation": N_("Defamation"),
        "obscene_or_violent": N_("Obscene or violent content"),
        "illegal_advertising": N_("Illegal advertising or spam"),
        "other_unlawful": N_("Other unlawful content"),
    },
    "audit_action": {
        "user.sign_up": N_("Signed up"),
        "user.make_admin": N_("Made platform administrator"),
        "user.change_password": N_("Changed password"),
        "user.sign_out_everywhere": N_("Signed out on every device"),
        "token.create": N_("Created an API token"),
        "token.revoke": N_("Revoked an API token"),
        "organisation.create": N_("Registered an organisation"),
        "organisation.update": N_("Edited an organisation"),
        "membership.add": N_("Granted a role"),
        "membership.remove": N_("Removed a role"),
        "invitation.create": N_("Sent an invitation"),
        "invitation.revoke": N_("Revoked an invitation"),
        "invitation.accept": N_("Accepted an invitation"),
        "verification.apply": N_("Applied for host verification"),
        "verification.approve": N_("Approved host verification"),
        "verification.reject": N_("Rejected host verification"),
        "supplier.create": N_("Added a supplier"),
        "supplier.update": N_("Edited a supplier"),
        "product.create": N_("Created a product"),
        "product.update": N_("Edited a product"),
        "product.publish": N_("Published a product"),
        "review.post": N_("Reviewed a purchase"),
        "review.reply": N_("Replied to a review"),
        "review.remove": N_("Removed a review for unlawful content"),
        "session.schedule": N_("Scheduled a live show"),
        "session.schedule_with_override": N_("Scheduled a live show despite flagged title wording"),
        "session.update": N_("Changed a live show"),
        "session.cover": N_("Changed a live show's cover"),
        "session.cancel": N_("Cancelled a live show"),
        "session.live": N_("A live show started"),
        "session.end": N_("A live show ended"),
        "session.pin": N_("Pinned a product as explaining now"),
        "session.stream_key": N_("Made a new stream key"),
        "shelf.add": N_("Added a product to a show's shelf"),
        "shelf.update": N_("Changed a shelf item's price or stock"),
        "shelf.remove": N_("Removed a product from a show's shelf"),
        "event.create": N_("Created a multi-room event"),
        "costream.invite": N_("Invited a room to co-stream"),
        "costream.accept": N_("Accepted a co-stream"),
        "costream.decline": N_("Declined a co-stream"),
        "costream.end": N_("Ended a co-stream"),
        "chat.remove": N_("Removed a chat message"),
        "chat.mute": N_("Muted a viewer"),
        "chat.unmute": N_("Unmuted a viewer"),
        "chat.banned_word.add": N_("Added a banned word"),
        "chat.banned_word.remove": N_("Removed a banned word"),
        "draw.create": N_("Announced a lucky draw"),
        "draw.open": N_("Opened a lucky draw"),
        "draw.enter": N_("Entered a lucky draw"),
        "draw.draw": N_("Drew the winners"),
        "draw.cancel": N_("Cancelled a lucky draw"),
        "product.publish_with_override": N_("Published a product despite claim warnings"),
        "chat.claims_sent": N_("Sent a chat line despite claim warnings"),
        "product.withdraw": N_("Withdrew a product"),
        "product.add_image": N_("Added a product image"),
        "product.remove_image": N_("Removed a product image"),
        "sku.create": N_("Added a SKU"),
        "sku.update": N_("Edited a SKU"),
        "inspection.record": N_("Recorded an inspection"),
        "inspection.attach": N_("Attached an inspection report"),
        "organisation.verification_apply": N_("Asked for organisation verification"),
        "organisation.verify": N_("Verified an organisation"),
        "organisation.verification_reject": N_("Rejected organisation verification"),
        "organisation.verification_revoke": N_("Revoked organisation verification"),
        "organisation.verification_lapse": N_("Organisation verification lapsed (name or kind changed)"),
        "organisation.brand": N_("Changed the storefront brand"),
        "integrity.alert_raised": N_("An integrity rule raised an alert"),
        "integrity.alert_acknowledge": N_("Acknowledged an integrity alert"),
        "integrity.alert_false_alarm": N_("Marked an integrity alert a false alarm"),
    },
    "target_type": {
        "user": N_("User"),
        "api_token": N_("API token"),
        "organisation": N_("Organisation"),
        "invitation": N_("Invitation"),
        "host_verification": N_("Verification request"),
        "organisation_verification": N_("Organisation verification request"),
        "supplier": N_("Supplier"),
        "product": N_("Product"),
        "sku": N_("SKU"),
        "integrity_alert": N_("Integrity alert"),
    },
    "supplier_kind": {
        "farmer": N_("Farmer"),
        "cooperative": N_("Cooperative"),
        "factory": N_("Factory"),
    },
    "category": {
        "fresh_produce": N_("Fresh produce"),
        "processed_food": N_("Processed food"),
        "handicraft": N_("Handicraft"),
        "industrial_goods": N_("Industrial goods"),
        "vehicles": N_("Vehicles"),
        "aircraft": N_("Aircraft"),
        "tourism_services": N_("Tourism and services"),
    },
    "product_status": {
        "draft": N_("Draft"),
        "published": N_("On sale"),
        "withdrawn": N_("Withdrawn"),
    },
    "inspection_status": {
        "none": N_("Not inspected"),
        "passed": N_("Inspection passed"),
        "failed": N_("Inspection failed"),
        "expired": N_("Inspection expired"),
    },
    "inspection_result": {
        "pass": N_("Pass"),
        "fail": N_("Fail"),
    },
    "claim_rule": {
        "absolute_term": N_("Absolute term"),
        "state_endorsement": N_("State organ or official used as endorsement"),
        "medical_claim": N_("Medical or disease claim"),
        "health_food_efficacy": N_("Health-food efficacy promise"),
        "medicine_comparison": N_("Comparison with medicine, or doctors used as recommendation"),
    },
    "verification_status": {
        "pending": N_("Waiting for review"),
        "approved": N_("Approved"),
        "rejected": N_("Rejected"),
        "withdrawn": N_("Withdrawn"),
        "expired": N_("Expired"),
    },
    "org_verification_status": {
        "pending": N_("Waiting for review"),
        "approved": N_("Approved"),
        "rejected": N_("Rejected"),
        "revoked": N_("Revoked"),
    },
    "order_state": {
        "pending_payment": N_("Awaiting payment"),
        "paid": N_("Paid, to ship"),
        "shipped": N_("Shipped"),
        "delivered": N_("Delivered"),
        "completed": N_("Completed"),
        "cancelled": N_("Cancelled"),
        "expired": N_("Unpaid, closed"),
    },
    "tracking_status": {
        "shipped": N_("Handed to the carrier"),
        "in_transit": N_("In transit"),
        "out_for_delivery": N_("Out for delivery"),
        "delivered": N_("Signed for"),
        "exception": N_("Problem with the parcel"),
    },
    # After-sales (aftersales/): what a buyer asks for, why, and where the request stands.
    "refund_kind": {
        "refund_only": N_("Refund only"),
        "return_and_refund": N_("Return and refund"),
    },
    "refund_reason": {
        "damaged": N_("Damaged in transit"),
        "not_as_described": N_("Not as described"),
        "spoiled_on_arrival": N_("Spoiled on arrival"),
        "too_slow": N_("Delivery too slow"),
        "never_arrived": N_("Never arrived"),
        "wrong_item": N_("Wrong item sent"),
        "changed_mind": N_("No longer wanted"),
        "other": N_("Other"),
    },
    "refund_state": {
        "requested": N_("Waiting for the supplier"),
        "rejected": N_("Rejected by the supplier"),
        "escalated": N_("Escalated to the organiser"),
        "closed": N_("Closed"),
        "awaiting_return": N_("Approved: send the goods back"),
        "returning": N_("Goods on their way back"),
        "refunding": N_("Refund under way"),
        "refunded": N_("Refunded"),
        "refund_failed": N_("Refund failed"),
    },
    # Integrity (integrity/): the rules' names, an alert's severity, state and subject, and the
    # keys of the evidence the rules store (a key without a name here is shown as it is).
    "alert_rule": {
        "official_host_not_public_welfare": N_("Official host in a show not for public welfare"),
        "live_price_below_cost": N_("Live price below cost"),
        "refunds_after_show": N_("Refunds after the show"),
        "member_of_selling_organisation": N_("Bought by a member of the selling organisation"),
        "round_quota": N_("Buyers paying a round quota"),
    },
    "session_state": {
        "scheduled": N_("Upcoming"),
        "live": N_("Live now"),
        "ended": N_("Ended"),
        "cancelled": N_("Cancelled"),
    },
    "alert_severity": {
        "low": N_("Low"),
        "medium": N_("Medium"),
        "high": N_("High"),
    },
    "alert_state": {
        "open": N_("Open"),
        "acknowledged": N_("Acknowledged"),
        "false_alarm": N_("False alarm"),
    },
    "alert_subject": {
        "session": N_("Show"),
        "order": N_("Order"),
        "user": N_("Buyer"),
        "organisation": N_("Organisation"),
    },
    "evidence_key": {
        "is_public_welfare": N_("Public-welfare show"),
        "official_hosts": N_("Official hosts"),
        "user_id": N_("User ID"),
        "position_title": N_("Position"),
        "jurisdiction": N_("Jurisdiction"),
        "items": N_("Items on the shelf"),
        "sku_id": N_("SKU ID"),
        "live_price_fen": N_("Live price"),
        "unit_cost_fen": N_("Unit cost"),
        "paid_orders": N_("Paid orders"),
        "refunded_orders": N_("Refunded orders"),
        "share": N_("Share"),
        "threshold": N_("Threshold"),
        "window_days": N_("Window (days)"),
        "ended_at": N_("Ended at"),
        "buyer_id": N_("Buyer ID"),
        "total_fen": N_("Total"),
        "roles": N_("Roles"),
        "organisation_id": N_("Organisation ID"),
        "quota_fen": N_("Quota"),
        "upper_fen": N_("Up to (not included)"),
        "buyers": N_("Buyers"),
        "all_buyers": N_("All buyers of the show"),
    },
    "refund_status": {
        "none": N_("No refund"),
        "refunding": N_("Refund under way"),
        "partially_refunded": N_("Partly refunded"),
        "refunded": N_("Refunded"),
    },
}


def label(group: str, value: object) -> str:
    raw = getattr(value, "value", value)
    msgid = LABELS.get(group, {}).get(str(raw))
    return gettext(msgid) if msgid else str(raw)


def labels_of(group: str) -> dict[str, str]:
    """Every value of a group with its translated name, for a page script (e.g. claim rules)."""
    return {value: gettext(msgid) for value, msgid in LABELS.get(group, {}).items()}


class LabelList:
    """Values shown as a translated, comma-separated list at the moment the text is rendered."""

    def __init__(self, group: str, values: Iterable[object]) -> None:
        self.group = group
        self.values = sorted(str(getattr(v, "value", v)) for v in values)

    def __str__(self) -> str:
        return gettext(N_(", ")).join(label(self.group, v) for v in self.values)
