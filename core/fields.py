from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


def tenant_user_fk(**kwargs) -> models.ForeignKey:
    """A foreign key from a tenant table to the global ``accounts.User`` (public schema).

    ``DO_NOTHING``: Django's delete collector would look for referencing rows from the public
    schema, where tenant tables do not exist, so a cascade or SET_NULL across schemas would
    crash user deletion. The database constraint still protects the rows (a referenced user
    cannot be deleted); users are deactivated instead, which revokes their access at once.
    """
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, related_name="+", **kwargs
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
