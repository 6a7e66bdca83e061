from django.conf import settings
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
