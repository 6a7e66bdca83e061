"""Receivers of the accounts app: the per-process lookups (``core.local_cache``: verified
tokens, memberships) forget a user or a membership as soon as it changes, in every process."""

from django.db.models.signals import post_delete, post_save

from core.local_cache import local_caches_invalidate

from .models import Membership, User


def _clear(**_kwargs) -> None:
    local_caches_invalidate()


for _model in (Membership, User):
    post_save.connect(_clear, sender=_model, dispatch_uid=f"local-cache-{_model.__name__}-save")
    post_delete.connect(_clear, sender=_model, dispatch_uid=f"local-cache-{_model.__name__}-del")
