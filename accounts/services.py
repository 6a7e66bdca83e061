"""Writes for accounts: login (with brute-force lockout), logout, member management."""

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import caches
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from core.exceptions import ApplicationError, ConflictError, NotFoundError

from .choices import Role
from .models import Membership, User
from .selectors import membership_get_active
from .tokens import access_token_revoke, tokens_for_membership

logger = logging.getLogger(__name__)


class LoginLocked(ApplicationError):
    status_code = 429
    code = "LOGIN_LOCKED"
    default_message = _("Too many failed logins. Try again later.")

    def __init__(self, retry_after: int):
        super().__init__(details={"retry_after_seconds": retry_after})
        self.retry_after = retry_after


class InvalidCredentials(ApplicationError):
    status_code = 401
    code = "INVALID_CREDENTIALS"
    default_message = _("Email or password is incorrect, or you are not a member here.")


# --- Lockout ---------------------------------------------------------------------------------


def _lockout_keys(email: str, ip: str) -> list[tuple[str, int]]:
    return [
        (f"cc:login-fail:email:{email}", settings.LOGIN_LOCKOUT_PER_EMAIL),
        (f"cc:login-fail:ip:{ip}", settings.LOGIN_LOCKOUT_PER_IP),
    ]


def _redis():
    return caches["default"].client.get_client(write=True)


def login_lockout_check(*, email: str, ip: str) -> None:
    """Raise ``LoginLocked`` while either counter is at its limit (correct password or not)."""
    try:
        client = _redis()
        for key, limit in _lockout_keys(email, ip):
            count = int(client.get(key) or 0)
            if count >= limit:
                raise LoginLocked(retry_after=max(int(client.ttl(key)), 1))
    except LoginLocked:
        raise
    except Exception:
        logger.warning("login lockout unavailable: Redis unreachable")


def login_failure_record(*, email: str, ip: str) -> None:
    try:
        client = _redis()
        window = settings.LOGIN_LOCKOUT_WINDOW_SECONDS
        for key, _limit in _lockout_keys(email, ip):
            pipe = client.pipeline()
            pipe.incr(key)
            pipe.expire(key, window, nx=True)
            pipe.execute()
    except Exception:
        logger.warning("login lockout unavailable: Redis unreachable")


@dataclass(frozen=True)
class IssuedTokens:
    access: str
    refresh: str
    membership: Membership


def auth_login(*, organization, email: str, password: str, ip: str) -> IssuedTokens:
    email = email.strip().lower()
    login_lockout_check(email=email, ip=ip)
    user = authenticate(username=email, password=password)
    membership = (
        membership_get_active(user_id=user.pk, organization_id=organization.pk) if user else None
    )
    if membership is None:
        login_failure_record(email=email, ip=ip)
        raise InvalidCredentials()
    refresh = tokens_for_membership(user=user, organization=organization)
    return IssuedTokens(
        access=str(refresh.access_token), refresh=str(refresh), membership=membership
    )


def auth_logout(*, refresh: str, access_token) -> None:
    """Blacklist the refresh token and revoke the access token that made the call."""
    try:
        RefreshToken(refresh).blacklist()
    except TokenError as exc:
        raise ApplicationError(
            _("The refresh token is invalid or already revoked."), code="INVALID_TOKEN"
        ) from exc
    if access_token is not None:
        access_token_revoke(
            jti=access_token.get("jti", ""), seconds_left=int(access_token["exp"] - time.time())
        )


# --- Members ---------------------------------------------------------------------------------


@transaction.atomic
def membership_create(
    *, organization, email: str, role: str, password: str | None = None, full_name: str = ""
) -> Membership:
    """Invite a person by email: create the user if new, then the membership."""
    email = email.strip().lower()
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password, full_name=full_name)
        if password is None:
            user.set_unusable_password()
            user.save(update_fields=["password"])
    if Membership.objects.filter(user=user, organization=organization).exists():
        raise ConflictError(
            _("This person is already a member."), code="ALREADY_MEMBER", details={"email": email}
        )
    return Membership.objects.create(user=user, organization=organization, role=role)


def _owner_count_locked(organization) -> int:
    owners = Membership.objects.select_for_update().filter(
        organization=organization, role=Role.OWNER
    )
    return len(list(owners))


@transaction.atomic
def membership_update_role(*, membership: Membership, role: str) -> Membership:
    if (
        membership.role == Role.OWNER
        and role != Role.OWNER
        and _owner_count_locked(membership.organization) <= 1
    ):
        raise ConflictError(_("An organization must keep at least one owner."), code="LAST_OWNER")
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    return membership


@transaction.atomic
def membership_delete(*, membership: Membership) -> None:
    if membership.role == Role.OWNER and _owner_count_locked(membership.organization) <= 1:
        raise ConflictError(_("An organization must keep at least one owner."), code="LAST_OWNER")
    membership.delete()


def access_membership(*, organization, membership_id, lock: bool = False) -> Membership:
    """Fetch a membership of this organization (404 for any other organization's)."""
    qs = Membership.objects.select_related("user", "organization")
    if lock:
        qs = qs.select_for_update()
    membership = qs.filter(pk=membership_id, organization=organization).first()
    if membership is None:
        raise NotFoundError()
    return membership
