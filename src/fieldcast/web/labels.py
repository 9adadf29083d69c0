"""Translated display names for the enum values pages show (the API keeps the raw values)."""

from __future__ import annotations

from fieldcast.i18n import N_, gettext

LABELS: dict[str, dict[str, str]] = {
    "org_kind": {
        "government": N_("Government office"),
        "association": N_("Association"),
        "cooperative": N_("Cooperative"),
        "enterprise": N_("Enterprise"),
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
        "official": N_("Official"),
        "first_secretary": N_("Village first secretary"),
        "farmer": N_("Farmer"),
        "enterprise_staff": N_("Enterprise staff"),
        "other": N_("Other"),
    },
    "verification_status": {
        "pending": N_("Waiting for review"),
        "approved": N_("Approved"),
        "rejected": N_("Rejected"),
        "withdrawn": N_("Withdrawn"),
        "expired": N_("Expired"),
    },
}


def label(group: str, value: object) -> str:
    raw = getattr(value, "value", value)
    msgid = LABELS.get(group, {}).get(str(raw))
    return gettext(msgid) if msgid else str(raw)
