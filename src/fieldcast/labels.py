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
    },
    "target_type": {
        "user": N_("User"),
        "api_token": N_("API token"),
        "organisation": N_("Organisation"),
        "invitation": N_("Invitation"),
        "host_verification": N_("Verification request"),
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


class LabelList:
    """Values shown as a translated, comma-separated list at the moment the text is rendered."""

    def __init__(self, group: str, values: Iterable[object]) -> None:
        self.group = group
        self.values = sorted(str(getattr(v, "value", v)) for v in values)

    def __str__(self) -> str:
        return gettext(N_(", ")).join(label(self.group, v) for v in self.values)
