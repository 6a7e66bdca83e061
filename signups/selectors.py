import hashlib

from django.db.models import QuerySet
from django.utils import timezone

from .models import SignupApplication, SignupStatus


def signup_token_hash(token: str) -> str:
    """What is stored for a confirmation token: its SHA-256 (hex), never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def signup_get_by_token(*, token: str) -> SignupApplication | None:
    """The unconfirmed application whose link carries ``token``, if it has not expired."""
    if not token or len(token) > 128:
        return None
    return SignupApplication.objects.filter(
        token_hash=signup_token_hash(token),
        status=SignupStatus.UNCONFIRMED,
        token_expires_at__gt=timezone.now(),
    ).first()


def signup_list_waiting() -> QuerySet[SignupApplication]:
    """Confirmed applications an operator has not decided yet, oldest first."""
    return SignupApplication.objects.filter(status=SignupStatus.CONFIRMED).order_by("created_at")
