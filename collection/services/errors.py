"""The refusals every service raises, each with its HTTP status, code and field."""

from __future__ import annotations

from collection import payloads


class ServiceError(Exception):
    """A request the platform refuses, with the field it concerns and a plain message."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class LeaseExpired(Conflict):
    code = "lease_expired"


class ConsentRequired(ServiceError):
    status = 403
    code = "consent_required"


class ProfileRequired(ServiceError):
    status = 403
    code = "profile_required"


class NotEligible(ServiceError):
    status = 403
    code = "not_eligible"


class Withdrawn(NotEligible):
    code = "withdrawn"


def payload_error(error: payloads.PayloadError) -> ServiceError:
    return ServiceError(error.message, field=error.field)
