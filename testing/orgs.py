"""Test organizations and the schema-restoring API client.

A request through Django's test client runs the tenant middleware in this thread: it leaves the
connection on the schema of the host it served. ``SchemaRestoringClient`` puts the schema that
was active before the request back afterwards, so a test reads the database in the schema it
chose (the ``acme`` fixture activates acme for the test body) without switching by hand.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from django.db import connection
from django_tenants.utils import get_public_schema_name, schema_context, tenant_context
from rest_framework.test import APIClient

from accounts.choices import Role
from accounts.models import User
from accounts.seeding import member_seed
from accounts.tokens import tokens_for_membership
from organizations.models import Organization
from organizations.services import organization_create

PASSWORD = "correct-horse-battery"


@contextlib.contextmanager
def schema_kept():
    """Put the connection back on the tenant (or schema) it had on entry, whatever ran inside."""
    previous = getattr(connection, "tenant", None)
    try:
        yield
    finally:
        if previous is None:
            connection.set_schema_to_public()
        else:
            connection.set_tenant(previous)


def public_schema():
    """``with public_schema():`` runs the block in the public schema (as beat, the platform
    host and management commands start), then puts the previous schema back."""
    return schema_context(get_public_schema_name())


class SchemaRestoringClient(APIClient):
    """DRF's test client; every request leaves the connection on the schema it found."""

    def request(self, **kwargs):
        with schema_kept():
            return super().request(**kwargs)


@dataclass
class Org:
    """A test organization with one user per role."""

    organization: Organization
    host: str
    users: dict[str, User] = field(default_factory=dict)

    @property
    def schema(self) -> str:
        return self.organization.schema_name

    def client(
        self,
        role: str | None = None,
        user: User | None = None,
        *,
        restore_schema: bool = True,
        **defaults,
    ) -> APIClient:
        """A client on this organization's host, authenticated as ``role`` (or anonymous);
        ``defaults``: more request defaults (``REMOTE_ADDR=...``). ``restore_schema=False``: a
        plain client that leaves the connection where the request put it, for the tests whose
        subject is the connection's schema switching (``core/tests/test_db_backend.py``)."""
        client_class = SchemaRestoringClient if restore_schema else APIClient
        client = client_class(HTTP_HOST=self.host, **defaults)
        user = user or (self.users[role] if role else None)
        if user is not None:
            # The shared users live for the whole session: a test that ended someone's sessions
            # (password change through a live server, log out everywhere) committed a new
            # session version, and a token minted from a stale object would be refused.
            user.refresh_from_db(fields=["session_version"])
            token = tokens_for_membership(user=user, organization=self.organization)
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.access_token}")
        return client

    def activate(self) -> None:
        """Switch the connection to this organization's schema and leave it there: only for the
        tests whose subject is the switching itself (``core/tests/test_db_backend.py``); others
        use ``active()`` or the fixture's activation."""
        connection.set_tenant(self.organization)

    def active(self):
        """``with org.active():`` reads and writes this organization's schema, then puts the
        previous schema back (cross-tenant tests show which tenant each block touches)."""
        return tenant_context(self.organization)


def make_org(slug: str, *, timezone: str | None = None, language: str = "en") -> Org:
    """A new organization (schema included) with an owner, a manager and a staff member
    (``{role}@{slug}.test``, password ``PASSWORD``). The active schema is left as it was."""
    # English, not the product's zh-hans default: tests assert on English messages, sheets and
    # pages; the language tests (core/tests/test_i18n.py) switch an organization to zh-hans.
    extra = {"language": language, **({"timezone": timezone} if timezone else {})}
    host = f"{slug}.localhost"
    with schema_context("public"):
        # No owner invitation (it would queue an email job): the members are seeded directly.
        organization = organization_create(name=slug.title(), slug=slug, domain=host, **extra)
        org = Org(organization=organization, host=host)
        for role in (Role.OWNER, Role.MANAGER, Role.STAFF):
            org.users[role] = member_seed(
                organization=organization, email=f"{role}@{slug}.test", role=role, password=PASSWORD
            )
    return org
