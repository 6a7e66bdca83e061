"""What the board page hands its script: settings and every string a person reads on it.

The script has no English of its own: its strings are rendered here through gettext, in the
board's language, into a JSON blob of the page (``json_script``), so the translation catalogs
cover the board like any template. Placeholders in ``{braces}`` are filled by the script.
"""

from django.utils.translation import gettext_lazy as _

from core.locale import organization_language, supported_language

from .selectors import RECALL_TRAY_SIZE

BOARD_STRINGS = {
    "all_stations": _("All stations"),
    "active_count": _("{n} active"),
    "sound_on": _("Sound on"),
    "enable_sound": _("Enable sound"),
    "tap_to_advance": _("Tap to advance"),
    "tap_to_complete": _("Tap to hand over (completes the task)"),
    "offline_not_sent": _("Offline: the action was not sent."),
    "token_invalid": _(
        "This screen token is not valid (revoked or rotated). Ask a manager for a new one."
    ),
    "screen_revoked": _("This screen was revoked by a manager."),
    "rush": _("Rush"),
    "pinned": _("Pinned"),
    "placed_at": _("Placed {time}"),
    "added": _("Added"),
    "removed": _("Removed"),
    "quantity_was": _("was {n}"),
    "acknowledge": _("Tap to acknowledge the changes"),
    "sold_out": _("Sold out"),
    "low_stock": _("{n} left"),
    "all_day": _("All day"),
    "all_day_empty": _("Nothing to fire"),
    "recall_tray": _("Recently bumped"),
    "recall_empty": _("Nothing to recall"),
    "recall_hint": _("Tap to recall"),
    "recall_sent": _("Recalling {number}…"),
    "expo": _("Expo"),
    "expo_confirm": _("{number} is not ready yet: bump again to complete it."),
    "status_pending": _("Pending"),
    "status_accepted": _("Accepted"),
    "status_in_progress": _("In progress"),
    "status_ready": _("Ready"),
    "status_completed": _("Completed"),
    "nothing_selected": _("No card to act on."),
}


def board_language(*, organization, requested: str | None) -> str:
    """``?lang=`` when it names a language of the site (one device may differ from the
    organization: ``zh-CN`` counts as ``zh-hans``), else the organization's language (DESIGN
    section 6). Not ``Accept-Language``: a kitchen TV's browser says whatever it shipped with,
    and the board is the organization's, not the device's."""
    return supported_language(requested) or organization_language(organization)


def board_config(*, organization, language: str) -> dict:
    """The page's JSON blob (read once by board.js; the ticket answer refreshes the settings
    at every connect). Lazy strings are rendered by ``json_script`` in the active language."""
    return {
        "language": language,
        "timezone": organization.timezone,
        "recall_minutes": organization.recall_minutes,
        "card_amber_minutes": organization.card_amber_minutes,
        "card_red_minutes": organization.card_red_minutes,
        "recall_tray_size": RECALL_TRAY_SIZE,
        "strings": BOARD_STRINGS,
    }
