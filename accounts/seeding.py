"""Members with known passwords, for the test suite, the benchmarks and `manage.py seed_demo`
only: no API, page or operator command reaches this.

A new account gets ``password``; an existing account's password is never changed (the rule of
DESIGN section 3 holds here too).
"""

from .models import Membership, User


def member_seed(*, organization, email: str, role: str, password: str) -> User:
    email = email.strip().lower()
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password)
    Membership.objects.get_or_create(user=user, organization=organization, defaults={"role": role})
    return user
