"""Clear the per-process lookups (core.local_cache) whenever what they cache changes."""

from django.db.models.signals import post_delete, post_save

from accounts.models import Membership, User
from organizations.models import Domain, Organization

from .local_cache import local_caches_clear


def _clear(**_kwargs) -> None:
    local_caches_clear()


for model in (Organization, Domain, Membership, User):
    post_save.connect(_clear, sender=model, dispatch_uid=f"local-cache-{model.__name__}-save")
    post_delete.connect(_clear, sender=model, dispatch_uid=f"local-cache-{model.__name__}-del")
