"""Writes for accounts: login (with brute-force lockout), logout, member management,
invitations, passwords, profile and sessions."""

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import caches
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from audit.choices import AuditAction
from audit.services import Target, audit_record
from core.exceptions import ApplicationError, ConflictError, NotFoundError
from core.jobs import job_send_on_commit
from core.local_cache import local_caches_invalidate
from core.sockets import sockets_close_on_commit, user_group_name

from . import lockout
from .choices import Role, role_at_least
from .models import Invitation, Membership, User
from .selectors import invitation_get_pending, invitation_token_hash, membership_get_active
from .tokens import access_token_revoke, tokens_for_membership

logger = logging.getLogger(__name__)


class InvalidCredentials(ApplicationError):
    status_code = 401
    code = "INVALID_CREDENTIALS"
    default_message = _("Email or password is incorrect, or you are not a member here.")


@dataclass(frozen=True)
class IssuedTokens:
    access: str
    refresh: str
    membership: Membership


def auth_login(*, organization, email: str, password: str, ip: str) -> IssuedTokens:
    email = lockout.normalize_email(email)
    # Counted before the password is checked (accounts.lockout): 429 / 503 raise from here.
    attempt = lockout.login_attempt_begin(email=email, ip=ip)
    user = authenticate(username=email, password=password)
    membership = (
        membership_get_active(user_id=user.pk, organization_id=organization.pk) if user else None
    )
    if membership is None:
        raise InvalidCredentials()  # the attempt stays counted as a failure
    lockout.login_attempt_succeeded(attempt)
    refresh = tokens_for_membership(user=user, organization=organization)
    return IssuedTokens(
        access=str(refresh.access_token), refresh=str(refresh), membership=membership
    )


def auth_logout(*, refresh: str, access_token) -> None:
    """Revoke the access token that made the call, then blacklist the refresh token.

    The access token first: if its deny-list (Redis) is unreachable this raises 503
    ``AUTH_UNAVAILABLE`` with nothing done, and the client can retry the same logout.
    """
    try:
        token = RefreshToken(refresh)
    except TokenError as exc:
        raise ApplicationError(
            _("The refresh token is invalid or already revoked."), code="INVALID_TOKEN"
        ) from exc
    if access_token is not None:
        access_token_revoke(
            jti=access_token.get("jti", ""), seconds_left=int(access_token["exp"] - time.time())
        )
    try:
        token.blacklist()
    except TokenError as exc:
        raise ApplicationError(
            _("The refresh token is invalid or already revoked."), code="INVALID_TOKEN"
        ) from exc


# --- Members ---------------------------------------------------------------------------------


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
    role_before = membership.role
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    if role != role_before:
        audit_record(
            action=AuditAction.MEMBER_ROLE,
            target=_member_target(membership),
            changes={"role": [role_before, role]},
            organization=membership.organization,
        )
    return membership


def _member_target(membership: Membership) -> Target:
    return Target(type="membership", id=str(membership.pk), label=membership.user.email)


@transaction.atomic
def membership_delete(*, membership: Membership) -> None:
    if membership.role == Role.OWNER and _owner_count_locked(membership.organization) <= 1:
        raise ConflictError(_("An organization must keep at least one owner."), code="LAST_OWNER")
    target = _member_target(membership)
    membership.delete()
    audit_record(
        action=AuditAction.MEMBER_REMOVE,
        target=target,
        changes={"role": [membership.role, None]},
        organization=membership.organization,
    )
    # The person's open WebSockets on this organization close once the removal commits.
    sockets_close_on_commit(
        groups=[user_group_name(membership.organization.schema_name, membership.user_id)],
        code="MEMBERSHIP_REVOKED",
        message=_("The user is inactive or no longer a member of this organization."),
    )


def access_membership(*, organization, membership_id, lock: bool = False) -> Membership:
    """Fetch a membership of this organization (404 for any other organization's)."""
    qs = Membership.objects.select_related("user", "organization")
    if lock:
        qs = qs.select_for_update()
    membership = qs.filter(pk=membership_id, organization=organization).first()
    if membership is None:
        raise NotFoundError()
    return membership


# --- Sessions --------------------------------------------------------------------------------


def user_sessions_revoke(*, user: User) -> None:
    """End every session of ``user``: every access and refresh token issued before now is
    refused, because each carries the session version it was issued with ("sv")."""
    # F() + 1: two concurrent revocations both count (a read-modify-write could lose one).
    User.objects.filter(pk=user.pk).update(session_version=F("session_version") + 1)
    user.refresh_from_db(fields=["session_version"])
    # update() sends no signal: every process's cached user/membership lookups are dropped here.
    local_caches_invalidate()
    # Their open WebSockets close too, in every organization they belong to (core.sockets).
    schemas = Membership.objects.filter(user_id=user.pk).values_list(
        "organization__schema_name", flat=True
    )
    sockets_close_on_commit(
        groups=[user_group_name(schema, user.pk) for schema in schemas],
        code="SESSION_REVOKED",
        message=_("Your session has ended. Sign in again."),
    )


def _issue_tokens(*, user: User, organization) -> IssuedTokens:
    membership = Membership.objects.select_related("user").get(user=user, organization=organization)
    refresh = tokens_for_membership(user=user, organization=organization)
    return IssuedTokens(
        access=str(refresh.access_token), refresh=str(refresh), membership=membership
    )


def auth_logout_everywhere(*, user: User, access_token=None) -> None:
    """ "Log out everywhere": every token of this person, on every organization, is refused."""
    user_sessions_revoke(user=user)
    if access_token is not None:
        # Also deny-list the calling token itself: refused at once even by a process whose
        # cached view of the user is still a few seconds old.
        access_token_revoke(
            jti=access_token.get("jti", ""), seconds_left=int(access_token["exp"] - time.time())
        )


# --- Passwords -------------------------------------------------------------------------------


class InvalidCurrentPassword(ApplicationError):
    status_code = 400
    code = "INVALID_CURRENT_PASSWORD"
    default_message = _("The current password is incorrect.")


class InvalidResetLink(ApplicationError):
    status_code = 400
    code = "INVALID_RESET_LINK"
    default_message = _("This password reset link is invalid, expired or already used.")


def password_validate(*, password: str, user: User, field: str = "password") -> None:
    """Django's password validators, failing as the API's VALIDATION_ERROR on ``field``."""
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ApplicationError(
            _("Some fields are invalid."),
            code="VALIDATION_ERROR",
            details={"fields": {field: list(exc.messages)}},
        ) from exc


def _password_set(*, user: User, password: str) -> None:
    user.set_password(password)
    user.save(update_fields=["password"])
    user_sessions_revoke(user=user)


def password_change(
    *, user: User, organization, current_password: str, new_password: str, ip: str
) -> IssuedTokens:
    """Change one's own password. Every earlier session ends; the caller gets fresh tokens for
    this organization so it stays logged in here."""
    # A stolen access token must not become a password-guessing oracle: same lockout as login
    # (counted before the check; a wrong password leaves it counted as a failure).
    attempt = lockout.login_attempt_begin(email=user.email, ip=ip)
    if not user.check_password(current_password):
        raise InvalidCurrentPassword()
    lockout.login_attempt_succeeded(attempt)
    password_validate(password=new_password, user=user, field="new_password")
    _password_set(user=user, password=new_password)
    return _issue_tokens(user=user, organization=organization)


def _reset_counter_hit(email: str) -> int:
    """Count one reset request for ``email`` in this hour (Redis; any Redis version)."""
    digest = hashlib.sha256(email.encode()).hexdigest()[:32]
    key = f"cc:pwreset:email:{digest}"
    client = caches["default"].client.get_client(write=True)  # raw: the key is global
    count = int(client.incr(key))
    if count == 1:
        client.expire(key, 3600)
    return count


def password_reset_request(*, organization, email: str) -> None:
    """Queue a reset email for ``email`` if it is an active member of ``organization``.

    Whether the account exists is decided by the Celery job, not here: the request does the
    same work and gives the same answer either way. Past ``PASSWORD_RESET_PER_EMAIL_HOUR``
    requests per email and hour, nothing more is sent (silently: the answer stays the same).
    """
    from .tasks import send_password_reset_email

    email = email.strip().lower()
    try:
        count = _reset_counter_hit(email)
    except Exception:
        # Without the counter the per-email limit cannot hold: send nothing (fail closed).
        logger.exception("password reset: Redis unreachable, request dropped")
        return
    if count > settings.PASSWORD_RESET_PER_EMAIL_HOUR:
        logger.info("password reset: per-email limit reached")
        return
    organization_id = organization.pk
    job_send_on_commit(
        send_password_reset_email, args=[organization_id, email], what="a password reset email"
    )


def password_reset_user(*, uid: str, token: str) -> User | None:
    """The user a reset link (uid + token) is valid for, else None."""
    try:
        pk = int(force_str(urlsafe_base64_decode(uid)))
    except (TypeError, ValueError, OverflowError):
        return None
    user = User.objects.filter(pk=pk, is_active=True).first()
    if user is None or not default_token_generator.check_token(user, token):
        return None
    return user


def password_reset_confirm(*, uid: str, token: str, new_password: str) -> User:
    """Set a new password from a reset link. The link dies with it (Django's token is derived
    from the password hash), and so does every earlier session."""
    user = password_reset_user(uid=uid, token=token)
    if user is None:
        raise InvalidResetLink()
    password_validate(password=new_password, user=user, field="new_password")
    _password_set(user=user, password=new_password)
    return user


# --- Profile ---------------------------------------------------------------------------------


def user_profile_update(
    *, user: User, full_name: str | None = None, language: str | None = None
) -> User:
    fields = {"full_name": full_name, "language": language}
    changed = [name for name, value in fields.items() if value is not None]
    for name in changed:
        setattr(user, name, fields[name])
    if changed:
        user.save(update_fields=changed)
        # Cached memberships carry the user object: drop them so the change shows at once.
        local_caches_invalidate()
    return user


# --- Invitations -----------------------------------------------------------------------------


class InvitationNotFound(NotFoundError):
    code = "INVITATION_NOT_FOUND"
    default_message = _("This invitation link is invalid, expired, revoked or already used.")


class InvitationRoleForbidden(ApplicationError):
    status_code = 403
    code = "INVITATION_ROLE_FORBIDDEN"
    default_message = _("Managers may invite staff only.")


class AccountExists(ConflictError):
    code = "ACCOUNT_EXISTS"
    default_message = _(
        "An account with this email already exists: log in with your password to accept."
    )


@dataclass(frozen=True)
class IssuedInvitation:
    """An invitation and its one-time token (only ever in the emailed link, never stored)."""

    invitation: Invitation
    token: str

    @property
    def accept_url(self) -> str:
        from .emails import invitation_accept_url

        return invitation_accept_url(organization=self.invitation.organization, token=self.token)


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, invitation_token_hash(token)


def _send_invitation_on_commit(issued: IssuedInvitation) -> None:
    from .tasks import send_invitation_email

    invitation_id, token = issued.invitation.pk, issued.token
    job_send_on_commit(
        send_invitation_email,
        args=[invitation_id, token],
        what=f"the email of invitation {invitation_id} (resend it)",
    )


@transaction.atomic
def invitation_create(
    *, organization, email: str, role: str, invited_by: User | None = None
) -> IssuedInvitation:
    """Invite ``email`` to ``organization`` with ``role`` and email them a one-time link.

    ``invited_by`` None is the platform (an operator, ``create_organization``). A manager may
    invite staff only. Nothing about an existing account is read or told: the answer is the same
    whether the email has an account or not.
    """
    email = email.strip().lower()
    if invited_by is not None:
        inviter = membership_get_active(user_id=invited_by.pk, organization_id=organization.pk)
        allowed = inviter is not None and (
            role_at_least(inviter.role, Role.OWNER)
            or (role_at_least(inviter.role, Role.MANAGER) and role == Role.STAFF)
        )
        if not allowed:
            raise InvitationRoleForbidden()
    # The inviter's own organization's data: telling them who already belongs here leaks nothing.
    if Membership.objects.filter(organization=organization, user__email=email).exists():
        raise ConflictError(
            _("This person is already a member."), code="ALREADY_MEMBER", details={"email": email}
        )
    open_ = (
        Invitation.objects.select_for_update()
        .filter(organization=organization, email=email)
        .filter(accepted_at__isnull=True, revoked_at__isnull=True)
        .first()
    )
    now = timezone.now()
    if open_ is not None:
        if open_.expires_at > now:
            raise ConflictError(
                _("This email already has a pending invitation: resend or revoke it."),
                code="INVITATION_PENDING",
                details={"invitation_id": open_.pk},
            )
        # An expired, never-used invitation holds the one-open-per-email slot: retire it.
        open_.revoked_at = now
        open_.save(update_fields=["revoked_at"])
    token, token_hash = _new_token()
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                organization=organization,
                email=email,
                role=role,
                token_hash=token_hash,
                invited_by=invited_by,
                expires_at=now + timedelta(hours=settings.INVITATION_TTL_HOURS),
                last_sent_at=now,
                send_count=1,
            )
    except IntegrityError as exc:  # a concurrent invite of the same email won
        raise ConflictError(
            _("This email already has a pending invitation: resend or revoke it."),
            code="INVITATION_PENDING",
        ) from exc
    audit_record(
        action=AuditAction.MEMBER_INVITE,
        target=invitation,
        actor=invited_by,
        changes={"email": [None, email], "role": [None, role]},
        organization=organization,
    )
    issued = IssuedInvitation(invitation=invitation, token=token)
    _send_invitation_on_commit(issued)
    return issued


def _invitation_lock(invitation: Invitation) -> Invitation:
    return (
        Invitation.objects.select_for_update().select_related("organization").get(pk=invitation.pk)
    )


@transaction.atomic
def invitation_resend(*, invitation: Invitation) -> IssuedInvitation:
    """Email a new link (the previous one stops working) and renew the expiry.

    Throttled per invitation: ``INVITATION_RESEND_COOLDOWN_SECONDS`` between two sends, at most
    ``INVITATION_MAX_SENDS`` sends in all (then revoke it and invite again).
    """
    invitation = _invitation_lock(invitation)
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise ConflictError(
            _("This invitation was already accepted or revoked."), code="INVITATION_CLOSED"
        )
    now = timezone.now()
    if invitation.send_count >= settings.INVITATION_MAX_SENDS:
        raise ConflictError(
            _("This invitation was sent too many times: revoke it and invite again."),
            code="INVITATION_SEND_LIMIT",
        )
    cooldown = settings.INVITATION_RESEND_COOLDOWN_SECONDS
    if invitation.last_sent_at and (elapsed := (now - invitation.last_sent_at).total_seconds()) < (
        cooldown
    ):
        error = ApplicationError(
            _("This invitation was just sent. Try again in a minute."),
            code="INVITATION_RESEND_TOO_SOON",
            status=429,
            details={"retry_after_seconds": int(cooldown - elapsed) + 1},
        )
        error.retry_after = int(cooldown - elapsed) + 1
        raise error
    token, invitation.token_hash = _new_token()
    invitation.expires_at = now + timedelta(hours=settings.INVITATION_TTL_HOURS)
    invitation.last_sent_at = now
    invitation.send_count = F("send_count") + 1
    invitation.save(update_fields=["token_hash", "expires_at", "last_sent_at", "send_count"])
    invitation.refresh_from_db(fields=["send_count"])
    audit_record(
        action=AuditAction.INVITATION_RESEND,
        target=invitation,
        changes={"send_count": [invitation.send_count - 1, invitation.send_count]},
        organization=invitation.organization,
    )
    issued = IssuedInvitation(invitation=invitation, token=token)
    _send_invitation_on_commit(issued)
    return issued


@transaction.atomic
def invitation_revoke(*, invitation: Invitation) -> Invitation:
    """Kill the link. Revoking twice is a no-op; an accepted invitation cannot be revoked
    (remove the membership instead)."""
    invitation = _invitation_lock(invitation)
    if invitation.accepted_at is not None:
        raise ConflictError(
            _("This invitation was already accepted: remove the member instead."),
            code="INVITATION_CLOSED",
        )
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(
            action=AuditAction.INVITATION_REVOKE,
            target=invitation,
            changes={"revoked_at": [None, invitation.revoked_at]},
            organization=invitation.organization,
        )
    return invitation


def _invitation_accept_locked(*, organization, token: str) -> Invitation:
    invitation = invitation_get_pending(organization_id=organization.pk, token=token, lock=True)
    if invitation is None:
        raise InvitationNotFound()
    return invitation


def _invitation_close(*, invitation: Invitation, user: User) -> None:
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    # The invitee is the actor: an accepted link is their act, whoever sent it.
    audit_record(
        action=AuditAction.INVITATION_ACCEPT,
        target=invitation,
        actor=user,
        changes={"role": [None, invitation.role]},
        organization=invitation.organization,
    )
    local_caches_invalidate()


def invitation_accept_new_account(
    *, organization, token: str, password: str, full_name: str
) -> IssuedTokens:
    """Accept with a new account: the invitee sets their own password and name.

    If the email already has an account, nothing is created and the invitee (the only one who
    sees this answer: it needs the emailed token) is told to log in with their password.
    """
    with transaction.atomic():
        invitation = _invitation_accept_locked(organization=organization, token=token)
        if User.objects.filter(email__iexact=invitation.email).exists():
            raise AccountExists()
        user = User(email=invitation.email, full_name=full_name.strip())
        password_validate(password=password, user=user)
        user.set_password(password)
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError as exc:  # the same email accepted elsewhere a moment ago
            raise AccountExists() from exc
        Membership.objects.create(user=user, organization=organization, role=invitation.role)
        _invitation_close(invitation=invitation, user=user)
    return _issue_tokens(user=user, organization=organization)


def invitation_accept_existing_account(
    *, organization, token: str, password: str, ip: str, email: str | None = None
) -> IssuedTokens:
    """Accept with the account the invitation's email already has, proven by its own password
    (under the login lockout). An existing member just gets tokens; their role is unchanged."""
    invitation = invitation_get_pending(organization_id=organization.pk, token=token)
    if invitation is None:
        raise InvitationNotFound()
    if email is not None and email.strip().lower() != invitation.email:
        raise ApplicationError(
            _("This invitation was sent to another email address."),
            code="INVITATION_EMAIL_MISMATCH",
        )
    # The same lockout as login, counted before the password is checked.
    attempt = lockout.login_attempt_begin(email=invitation.email, ip=ip)
    user = authenticate(username=invitation.email, password=password)
    if user is None:
        raise InvalidCredentials()  # the attempt stays counted as a failure
    lockout.login_attempt_succeeded(attempt)
    with transaction.atomic():
        invitation = _invitation_accept_locked(organization=organization, token=token)
        Membership.objects.get_or_create(
            user=user, organization=organization, defaults={"role": invitation.role}
        )
        _invitation_close(invitation=invitation, user=user)
    return _issue_tokens(user=user, organization=organization)
