"""Messages of installed packages that reach a person (the error envelope) but have no zh-Hans
translation in the package's own catalog. Listed here so ``makemessages`` keeps them in
``locale/zh_Hans`` (the project's catalog is consulted before the packages'); never imported.
"""

from django.utils.translation import gettext_noop

SIMPLEJWT = [
    gettext_noop("Token is invalid"),
    gettext_noop("Token is expired"),
    gettext_noop("No active account found for the given token."),
    gettext_noop("The user's password has been changed."),
]
