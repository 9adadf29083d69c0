"""Domain errors of reviews, with stable codes (mapped to problem+json in one place)."""

from __future__ import annotations

from fieldcast.errors import Conflict, Invalid, NotAllowed


class NotDelivered(Conflict):
    """The order has not arrived yet (or was never paid): there is nothing to review."""

    code = "order_not_delivered"


class AlreadyReviewed(Conflict):
    code = "already_reviewed"


class NotTheBuyer(NotAllowed):
    code = "not_the_buyer"


class NotTheSeller(NotAllowed):
    code = "not_the_seller"


class AlreadyReplied(Conflict):
    code = "already_replied"


class AlreadyRemoved(Conflict):
    code = "already_removed"


class ReviewIsPermanent(NotAllowed):
    """Nobody edits or hides a review: not the seller, not the buyer once it is posted."""

    code = "review_is_permanent"


class BadPhoto(Invalid):
    code = "bad_review_photo"
