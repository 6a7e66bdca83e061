"""Member roles and their rank: the vocabulary of the role policy (``core.policy``).

They live in ``core`` because the policy every door reads is here and ``core`` imports no
domain app; ``accounts.choices`` re-exports them for the models and services of accounts.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    STAFF = "staff", _("Staff")
    MANAGER = "manager", _("Manager")
    OWNER = "owner", _("Owner")


ROLE_RANK = {Role.STAFF: 1, Role.MANAGER: 2, Role.OWNER: 3}


def role_at_least(role: str, minimum: str) -> bool:
    return ROLE_RANK.get(role, 0) >= ROLE_RANK[minimum]
