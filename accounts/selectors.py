import hashlib

from django.db.models import Q, QuerySet
from django.utils import timezone

from core.local_cache import LocalCache

from .choices import Role, role_at_least
from .models import Invitation, Membership

_active_memberships = LocalCache("active-membership")


def membership_get_active(*, user_id, organization_id) -> Membership | None:
    """The membership of an active user in an organization, with the user (one query, then
    cached a few seconds per process; any membership or user write clears the cache)."""
    if user_id is None or organization_id is None:
        return None
    return _active_memberships.get_or_load(
        (str(user_id), organization_id),
        lambda: (
            Membership.objects.select_related("user")
            .filter(user_id=user_id, organization_id=organization_id, user__is_active=True)
            .first()
        ),
    )


def membership_list(*, organization_id) -> QuerySet[Membership]:
    return Membership.objects.select_related("user").filter(organization_id=organization_id)


# --- Invitations -----------------------------------------------------------------------------


def invitation_token_hash(token: str) -> str:
    """What is stored for an invitation's one-time token: its SHA-256 (hex), never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_status_q(status: str) -> Q:
    """The filter matching ``Invitation.status`` (a property) in the database."""
    now = timezone.now()
    open_ = Q(accepted_at__isnull=True, revoked_at__isnull=True)
    return {
        "accepted": Q(accepted_at__isnull=False),
        "revoked": Q(accepted_at__isnull=True, revoked_at__isnull=False),
        "expired": open_ & Q(expires_at__lte=now),
        "pending": open_ & Q(expires_at__gt=now),
    }[status]


def invitation_list(*, organization_id, viewer_role: str) -> QuerySet[Invitation]:
    """The invitations an organization's member may see: all for an owner, staff ones for a
    manager (who may invite staff only; the others are not theirs to manage)."""
    qs = Invitation.objects.filter(organization_id=organization_id).select_related("invited_by")
    if not role_at_least(viewer_role, Role.OWNER):
        qs = qs.filter(role=Role.STAFF)
    return qs


def invitation_get_pending(*, organization_id, token: str, lock: bool = False) -> Invitation | None:
    """The pending invitation of this organization whose token is ``token``, else None (unknown,
    another organization's, expired, revoked or already used: all the same to the caller)."""
    if not token or len(token) > 200:
        return None
    qs = Invitation.objects.select_related("organization")
    if lock:
        qs = qs.select_for_update(of=("self",))
    invitation = qs.filter(
        token_hash=invitation_token_hash(token), organization_id=organization_id
    ).first()
    if invitation is None or invitation.status != "pending":
        return None
    return invitation


def email_mask(email: str) -> str:
    """``jane.doe@corp.test`` -> ``j******e@corp.test``: enough for the invitee to recognise."""
    local, _at, domain = email.partition("@")
    if len(local) <= 2:
        return f"{local[:1]}*@{domain}"
    return f"{local[0]}{'*' * (len(local) - 2)}{local[-1]}@{domain}"
