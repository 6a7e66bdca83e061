"""The role matrix of DESIGN section 3: one table that every door of the application reads.

``POLICY`` maps each action to the minimum role that may take it:

- a REST route of an organization's host, keyed ``(resource, action)``: for a viewset the
  router's basename and the viewset action (``("task", "cancel")``, ``("agent", "list")``); for
  a plain view the URL name and the HTTP method (``("organization-settings", "patch")``);
- a WebSocket action, keyed ``("ws", action)`` (``connect`` is reading the live board);
- public routes (no authentication at all), with the rule ``PUBLIC``.

A display screen is not a user and has no role: it may take only the actions whose rule says
``screen=True`` (its WebSocket ticket, the live board, bump, item done).

Anything without an entry is refused (``core.permissions.RolePermission`` and
``displays.realtime`` log it): a new route stays closed until someone decides who may use it,
and ``core/tests/test_policy_matrix.py`` walks the URLconf and fails on the route it misses.
"""

import logging
from dataclasses import dataclass

from .roles import ROLE_RANK, Role, role_at_least

logger = logging.getLogger(__name__)

PUBLIC = "public"
# The "role" a display screen carries: ranks below every member role, so only ``screen=True``
# rules let it through.
SCREEN = "screen"
WS = "ws"
# OPTIONS asks what a route accepts; DRF's metadata answer then checks each method on its own.
_METADATA_ACTIONS = frozenset({"metadata", "options"})


@dataclass(frozen=True)
class Rule:
    """Who may take one action: the minimum member role (or ``PUBLIC``), and screens or not."""

    role: str
    screen: bool = False


ANYONE = Rule(PUBLIC)
STAFF = Rule(Role.STAFF)
STAFF_OR_SCREEN = Rule(Role.STAFF, screen=True)
MANAGER = Rule(Role.MANAGER)
OWNER = Rule(Role.OWNER)


def _each(resource: str, rule: Rule, *actions: str) -> dict[tuple[str, str], Rule]:
    return {(resource, action): rule for action in actions}


_READ = ("list", "retrieve")
_WRITE = ("create", "partial_update", "destroy")

POLICY: dict[tuple[str, str], Rule] = {
    # --- public: no token at all --------------------------------------------------------------
    ("auth-token", "post"): ANYONE,
    ("auth-refresh", "post"): ANYONE,
    ("health", "get"): ANYONE,
    ("ready", "get"): ANYONE,
    ("schema", "get"): ANYONE,
    ("swagger-ui", "get"): ANYONE,
    ("redoc", "get"): ANYONE,
    # The board page asks for the screen token itself (the ticket exchange below needs it).
    ("display-board", "get"): ANYONE,
    # Password reset by email, invitation links (the emailed token is the credential), and
    # the small HTML pages those links open (accounts.pages).
    ("auth-password-reset", "post"): ANYONE,
    ("auth-password-reset-confirm", "post"): ANYONE,
    ("invitation-preview", "get"): ANYONE,
    ("invitation-accept", "post"): ANYONE,
    ("accounts-invitation-accept-page", "get"): ANYONE,
    ("accounts-invitation-accept-page", "post"): ANYONE,
    ("accounts-password-reset-page", "get"): ANYONE,
    ("accounts-password-reset-page", "post"): ANYONE,
    # --- one's own session: every member ----------------------------------------------------
    ("auth-logout", "post"): STAFF,
    ("auth-logout-all", "post"): STAFF,
    ("auth-me", "get"): STAFF,
    ("auth-me", "patch"): STAFF,
    ("auth-password-change", "post"): STAFF,
    # --- members of any role: the owner (people join by invitation: no create) ----------------
    **_each("member", OWNER, *_READ, "partial_update", "destroy"),
    # --- invitations: managers invite staff (and see only staff invitations), owners any role;
    # the role invited is checked by accounts.services.invitation_create -------------------
    **_each("invitation", MANAGER, *_READ, "create", "destroy", "resend"),
    # --- organization settings: every member reads, the owner changes ------------------------
    ("organization-settings", "get"): STAFF,
    ("organization-settings", "patch"): OWNER,
    # --- deletion: the owner schedules (password re-entered) and cancels ----------------------
    ("organization-deletion", "post"): OWNER,
    ("organization-deletion", "delete"): OWNER,
    # --- export of the organization's data: the owner requests, polls and downloads it -----
    **_each("organization-export", OWNER, "create", "retrieve", "download"),
    # --- catalog: everyone reads; managers edit it and adjust stock ---------------------------
    **_each("agent-category", STAFF, *_READ),
    **_each("agent-category", MANAGER, *_WRITE),
    **_each("agent", STAFF, *_READ, "stock_movements"),
    **_each("agent", MANAGER, *_WRITE, "stock_adjustments", "reconciliation"),
    # --- tasks: staff run the floor; cancel (and editing what was ordered) is managers' -------
    **_each(
        "task",
        STAFF,
        *_READ,
        "events",
        "create",
        "accept",
        "start",
        "ready",
        "complete",
        "pin",
        "unpin",
        "item_done",
        "partial_update",  # workspace, customer, notes, priority; items: FIELD_POLICY
        "recall",
        "notes",
        "batch",
    ),
    ("task", "cancel"): MANAGER,
    # --- display screens: managers manage them; a screen (or a member) gets a WS ticket ------
    **_each("screen", MANAGER, *_READ, *_WRITE, "update", "rotate_token", "revoke"),
    ("realtime-ticket", "post"): STAFF_OR_SCREEN,
    # --- reports, their jobs and the dashboard: managers --------------------------------------
    **_each("daily-report", MANAGER, *_READ, "download", "regenerate"),
    **_each("monthly-report", MANAGER, *_READ, "download", "regenerate"),
    ("report-job", "retrieve"): MANAGER,
    ("reports-dashboard", "get"): MANAGER,
    # --- the audit trail: managers read it; nobody writes it through the API -----------------
    **_each("audit", MANAGER, *_READ),
    # --- WebSocket (displays.consumers): the live board and the actions taken on it ----------
    (WS, "connect"): STAFF_OR_SCREEN,  # snapshot, replay, live events (a screen: its station)
    (WS, "bump"): STAFF_OR_SCREEN,  # advance a task's status
    (WS, "item_done"): STAFF_OR_SCREEN,
    (WS, "recall"): STAFF_OR_SCREEN,  # undo a bump
}

# Parts of a route that need more than the route's own rule: (resource, action, field) -> rule,
# checked by the view when the request carries the field (the route's rule is checked first).
FIELD_POLICY: dict[tuple[str, str, str], Rule] = {
    ("task", "partial_update", "items"): MANAGER,  # edit what was ordered (stock, totals)
}


def rule_for(resource: str | None, action: str | None) -> Rule | None:
    """The rule of one action, or None when the table has no entry (refuse it)."""
    if resource is None or action is None:
        return None
    if action == "head":
        action = "get"
    if action in _METADATA_ACTIONS:
        # Whoever may take some action on the route may ask what the route accepts.
        rules = [rule for (res, _a), rule in POLICY.items() if res == resource]
        return min(rules, key=_openness) if rules else None
    return POLICY.get((resource, action))


def permits_field(resource: str, action: str, field: str, *, role: str | None) -> bool:
    """Whether ``role`` may send ``field`` to the action (no ``FIELD_POLICY`` entry: yes)."""
    rule = FIELD_POLICY.get((resource, action, field))
    return rule is None or allows(rule, role=role)


def allows(rule: Rule | None, *, role: str | None) -> bool:
    """Whether a principal with ``role`` (a member role, ``SCREEN``, or None) may act."""
    if rule is None:
        return False
    if rule.role == PUBLIC:
        return True
    if role == SCREEN:
        return rule.screen
    return role is not None and role_at_least(role, rule.role)


def permits(resource: str | None, action: str | None, *, role: str | None) -> bool:
    """``allows(rule_for(...))``, logging an action the table does not name (fail closed)."""
    rule = rule_for(resource, action)
    if rule is None:
        logger.error(
            "no role policy entry: refused",
            extra={"policy_resource": resource, "policy_action": action},
        )
        return False
    return allows(rule, role=role)


def _openness(rule: Rule) -> tuple[int, bool]:
    """Sort key: the most open rule first (public, then lower roles, screens allowed first)."""
    return (0 if rule.role == PUBLIC else ROLE_RANK[rule.role], not rule.screen)
