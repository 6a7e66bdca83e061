from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


def tenant_user_fk(**kwargs) -> models.ForeignKey:
    """A reference from a tenant table to the global ``accounts.User`` (public schema).

    No database constraint (``db_constraint=False``): a foreign key puts two triggers on
    ``accounts_user`` for every referencing column of every schema (18 per organization), so at
    10,000 organizations the shared table would carry 180,000 triggers: every backend touching
    it loads them all, each new organization's foreign keys reload them (provisioning grows with
    the fleet: 50-80 ms per key at 1,000 schemas), and deleting a user probes every schema.
    Users are never deleted (the admin refuses; they are deactivated, which revokes their
    access at once), so the rows' references stay valid by that rule (docs/scaling.md).
    ``DO_NOTHING``: Django's delete collector would look for referencing rows from the public
    schema, where tenant tables do not exist.
    """
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        **kwargs,
    )


def field_max_length(model: type[models.Model], name: str) -> int:
    """The ``max_length`` of a model's text field: the API's limit is the column's."""
    return model._meta.get_field(name).max_length


def field_range(model: type[models.Model], name: str) -> tuple[int | None, int | None]:
    """The bounds of a model's number field, from its Min/MaxValueValidator (None: unbounded).
    The serializers' ``min_value``/``max_value`` read them here, never a copy."""
    low = high = None
    for validator in model._meta.get_field(name).validators:
        if isinstance(validator, MinValueValidator):
            low = validator.limit_value
        elif isinstance(validator, MaxValueValidator):
            high = validator.limit_value
    return low, high
