"""Domain errors of accounts, with stable codes."""

from fieldcast.errors import Conflict, Invalid, NotAllowed, NotAuthenticated


class EmailTaken(Conflict):
    code = "email_taken"


class BadCredentials(NotAuthenticated):
    code = "bad_credentials"


class NotPlatformAdmin(NotAllowed):
    code = "not_platform_admin"


class MissingRole(NotAllowed):
    code = "missing_role"


class InvalidIdNumber(Invalid):
    code = "invalid_id_number"


class VerificationPending(Conflict):
    code = "verification_pending"


class VerificationStillValid(Conflict):
    code = "verification_still_valid"


class IdNumberInUse(Conflict):
    code = "id_number_in_use"


class NotPending(Conflict):
    code = "not_pending"


class InvitationUnusable(Conflict):
    code = "invitation_unusable"


class LastOwner(Conflict):
    code = "last_owner"


class SlugTaken(Conflict):
    code = "slug_taken"


class TooManyTokens(Conflict):
    code = "too_many_tokens"


class NameOfVerifiedOrganisation(Conflict):
    """The exact name of a verified organisation: nobody else may take it."""

    code = "name_of_verified_organisation"


class NotAClaimedKind(Invalid):
    code = "not_a_claimed_kind"


class UnknownJurisdiction(Invalid):
    code = "unknown_jurisdiction"


class AlreadyVerified(Conflict):
    code = "already_verified"


class ClaimChanged(Conflict):
    """The organisation's name or kind changed after it applied: the claim is not what was asked."""

    code = "claim_changed"
