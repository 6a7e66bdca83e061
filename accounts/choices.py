from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    STAFF = "staff", _("Staff")
    MANAGER = "manager", _("Manager")
    OWNER = "owner", _("Owner")


ROLE_RANK = {Role.STAFF: 1, Role.MANAGER: 2, Role.OWNER: 3}


def role_at_least(role: str, minimum: str) -> bool:
    return ROLE_RANK.get(role, 0) >= ROLE_RANK[minimum]
