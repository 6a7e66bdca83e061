from django.db.models import QuerySet

from core.local_cache import LocalCache

from .models import Membership

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
