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
