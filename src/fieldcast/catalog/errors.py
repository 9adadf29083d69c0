"""Domain errors of the catalog, with stable codes."""

from fieldcast.errors import Conflict, Invalid, NotAllowed, TooManyRequests


class UnknownRegion(Invalid):
    code = "unknown_region"


class BadImage(Invalid):
    code = "bad_image"


class ImageTooLarge(BadImage):
    """Too many bytes or pixels: refused before decoding (413, Content Too Large)."""

    status = 413
    code = "image_too_large"


class TooManyUploads(TooManyRequests):
    code = "too_many_uploads"


class ClaimsNeedOverride(Conflict):
    """Publishing text with open claim-checker hits needs an organiser's override with a reason."""

    code = "claims_need_override"


class NotEligibleForPublicWelfare(Conflict):
    code = "not_inspected"


class NotPublished(NotAllowed):
    code = "not_published"


class InvalidSku(Invalid):
    code = "invalid_sku"


class NotAnInspector(NotAllowed):
    """Only inspectors of an inspection authority record inspections."""

    code = "not_an_inspector"


class AuthorityNotVerified(NotAllowed):
    code = "authority_not_verified"


class OutsideJurisdiction(NotAllowed):
    code = "outside_jurisdiction"


class OwnGoods(NotAllowed):
    """A seller never inspects its own goods."""

    code = "own_goods"


class ChooseAuthority(Invalid):
    code = "choose_authority"
