from django.db.models import QuerySet

from .models import Membership


def membership_get_active(*, user_id, organization_id) -> Membership | None:
    """The membership of an active user in an organization, with the user, in one query."""
    if user_id is None or organization_id is None:
        return None
    return (
        Membership.objects.select_related("user")
        .filter(user_id=user_id, organization_id=organization_id, user__is_active=True)
        .first()
    )


def membership_list(*, organization_id) -> QuerySet[Membership]:
    return Membership.objects.select_related("user").filter(organization_id=organization_id)
