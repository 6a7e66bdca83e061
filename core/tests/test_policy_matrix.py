"""The whole role matrix, generated from the URLconf of an organization's host.

Every route of ``config.urls_tenant`` (viewset actions and ``@action`` routes included) is
looked up in ``core.policy.POLICY``; a route without an entry fails here, naming it, and so does
an entry that names no route (a table that says more than the code is not the contract).

Then each route x method is requested as: anonymous; staff, manager and owner of ``acme``; the
owner of ``globex`` with a globex token on the acme host; acme's owner with an acme token on the
globex host; an acme display screen. Detail routes are requested on an object of acme and on an
object that exists only in globex. Bodies are empty, so writes fail validation or act inside a
savepoint that is rolled back after each request.

What the table implies:
- allowed: never 401/403 and never a 500 (2xx, a validation error or a 404 are all fine); on
  the other organization's object never a 2xx;
- a member whose role is too low: 403; anonymous and tokens of another organization: 401;
- a screen: only entries with ``screen=True`` (401 where the view takes no screen token, 403
  where it does);
- public entries: open to all of them.
"""

import inspect
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts.choices import Role
from accounts.models import Membership, User
from accounts.tokens import tokens_for_membership
from core import policy
from core.permissions import RolePermission

URLCONF = "config.urls_tenant"
# Far past any id the shared test organizations reach: an id of globex's that acme cannot have.
FOREIGN_PK = 10**12
# Who asks a public route: nobody, another organization's token, a screen.
PUBLIC_ASKERS = ("anonymous", "globex owner on acme", "acme screen")


@dataclass(frozen=True)
class Case:
    """One route x method, and the table entry that governs it."""

    route: str  # the URL pattern, for messages
    url_name: str
    kwargs: tuple[str, ...]  # the URL's arguments (detail routes)
    method: str
    key: tuple[str, str]  # (basename or URL name, action or method)
    view: type | None  # the view class (None: a plain function)
    viewset: bool = False

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.route} {self.key}"


def _walk(patterns, prefix="", names=()):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            groups = tuple(entry.pattern.regex.groupindex)
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), names + groups)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry, names + tuple(entry.pattern.regex.groupindex)


def _function_view_methods(callback) -> list[str]:
    """The methods a function view answers: those of its ``require_http_methods`` decorator
    (found through the ``__wrapped__`` chain), else GET (health, ready answer any method)."""
    func = callback
    while func is not None:
        try:
            allowed = inspect.getclosurevars(func).nonlocals.get("request_method_list")
        except TypeError:  # not a plain function
            allowed = None
        if allowed:
            return [m.lower() for m in allowed if m.lower() not in ("head", "options")]
        func = getattr(func, "__wrapped__", None)
    return ["get"]


def tenant_cases() -> list[Case]:
    cases = []
    for route, entry, kwargs in _walk(get_resolver(URLCONF).url_patterns):
        callback = entry.callback
        view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        actions = getattr(callback, "actions", None)
        if actions:  # a router-registered viewset route
            basename = callback.initkwargs["basename"]
            for method, action in actions.items():
                if method not in ("head", "options"):
                    key = (basename, action)
                    cases.append(Case(route, entry.name, kwargs, method, key, view, True))
            continue
        if view is not None:
            methods = [
                m
                for m in view.http_method_names
                if m not in ("head", "options") and hasattr(view, m)
            ]
        else:
            methods = _function_view_methods(callback)
        for method in methods:
            cases.append(Case(route, entry.name, kwargs, method, (entry.name, method), view))
    return cases


CASES = tenant_cases()


def test_every_route_has_a_policy_entry():
    missing = [str(case) for case in CASES if case.key not in policy.POLICY]
    assert not missing, "routes without an entry in core.policy.POLICY:\n" + "\n".join(missing)


def test_every_policy_entry_names_a_route_or_a_websocket_action():
    routed = {case.key for case in CASES}
    stale = [key for key in policy.POLICY if key[0] != policy.WS and key not in routed]
    assert not stale, f"core.policy.POLICY entries that name no route: {stale}"


def test_every_non_public_route_is_checked_by_the_role_permission():
    """The table is only as good as its enforcement: a view that drops RolePermission (or is
    not a DRF view at all) must be public in the table."""
    unchecked = []
    for case in CASES:
        rule = policy.POLICY.get(case.key)
        if rule is None or rule.role == policy.PUBLIC:
            continue
        classes = getattr(case.view, "permission_classes", None) if case.view else None
        if not (
            isinstance(case.view, type)
            and issubclass(case.view, APIView)
            and any(issubclass(c, RolePermission) for c in classes or ())
        ):
            unchecked.append(str(case))
    assert not unchecked, f"non-public routes that RolePermission does not check: {unchecked}"


# --- the objects detail routes are requested on -------------------------------------------------


def _task_objects(pk=None):
    from agents.models import Agent, AgentCategory
    from tasks.models import Task, TaskItem

    extra = {"pk": pk} if pk else {}
    category = AgentCategory.objects.create(name=f"Policy {uuid.uuid4().hex[:8]}", **extra)
    agent = Agent.objects.create(
        name="Policy dish", category=category, unit_price=Decimal("10.00"), **extra
    )
    task = Task.objects.create(
        number=f"P{uuid.uuid4().hex[:8]}",
        business_date=date(2024, 1, 2),
        sequence=1,
        subtotal=Decimal("10.00"),
        total=Decimal("10.00"),
        **extra,
    )
    item = TaskItem.objects.create(
        task=task,
        agent=agent,
        agent_name=agent.name,
        category_id_snapshot=category.pk,
        category_name=category.name,
        unit_price=Decimal("10.00"),
        quantity=1,
        line_total=Decimal("10.00"),
        **extra,
    )
    return {"agent-category": category.pk, "agent": agent.pk, "task": task.pk, "item": item.pk}


def _detail_object(basename: str, org, foreign: bool) -> dict:
    """The URL arguments of an object of ``org`` (with an id acme cannot have if foreign)."""
    with org.active():
        return _detail_object_here(basename, org, foreign)


def _detail_object_here(basename: str, org, foreign: bool) -> dict:
    from displays.models import Screen
    from reports.models import DailyReport, MonthlyReport, ReportJob

    pk = FOREIGN_PK if foreign else None
    extra = {"pk": pk} if pk else {}
    if basename in ("agent-category", "agent", "task"):
        ids = _task_objects(pk)
        return {"pk": ids[basename], "item_id": ids["item"]}
    if basename == "screen":
        screen = Screen.objects.create(name="Policy", token_hash=uuid.uuid4().hex, **extra)
        return {"pk": screen.pk}
    if basename == "daily-report":
        return {"pk": DailyReport.objects.create(business_date=date(2024, 1, 2), **extra).pk}
    if basename == "monthly-report":
        return {"pk": MonthlyReport.objects.create(month=date(2024, 1, 1), **extra).pk}
    if basename == "report-job":
        return {"pk": ReportJob.objects.create(kind="daily", period=date(2024, 1, 2)).pk}
    if basename == "member":
        user = User.objects.create_user(email=f"policy-{uuid.uuid4().hex[:8]}@example.test")
        membership = Membership.objects.create(
            user=user, organization=org.organization, role=Role.STAFF
        )
        return {"pk": membership.pk}
    # A detail route this test has no factory for yet: an id neither organization has (404 for
    # the allowed, the role check is still exercised).
    return {name: FOREIGN_PK + 1 for name in ("pk", "item_id")}


# --- who asks -----------------------------------------------------------------------------------


def _bearer(client: APIClient, user, organization) -> APIClient:
    token = tokens_for_membership(user=user, organization=organization)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.access_token}")
    return client


def _principals(acme, globex) -> dict[str, tuple[APIClient, str]]:
    """name -> (client, what it is): a member role, "anonymous", "foreign" or "screen"."""
    from displays.services import screen_create

    _screen, screen_token = screen_create(name="Policy screen")
    screen = APIClient(HTTP_HOST=acme.host)
    screen.credentials(HTTP_AUTHORIZATION=f"Screen {screen_token}")
    connection.set_schema_to_public()
    return {
        "anonymous": (APIClient(HTTP_HOST=acme.host), "anonymous"),
        "staff": (acme.client(Role.STAFF), Role.STAFF),
        "manager": (acme.client(Role.MANAGER), Role.MANAGER),
        "owner": (acme.client(Role.OWNER), Role.OWNER),
        "globex owner on acme": (
            _bearer(APIClient(HTTP_HOST=acme.host), globex.users[Role.OWNER], globex.organization),
            "foreign",
        ),
        "acme owner on globex": (
            _bearer(APIClient(HTTP_HOST=globex.host), acme.users[Role.OWNER], acme.organization),
            "foreign",
        ),
        "acme screen": (screen, "screen"),
    }


def _expected(rule: policy.Rule, who: str) -> str:
    if rule.role == policy.PUBLIC:
        # A credential that is not valid here may be refused even where none is needed.
        return "allowed" if who in ("anonymous", "screen") else "not 403"
    if who in ("anonymous", "foreign"):
        return "401"
    if who == "screen":
        return "allowed" if rule.screen else "refused"
    return "allowed" if policy.allows(rule, role=who) else "403"


def _request(client: APIClient, method: str, url: str):
    body = {} if method in ("post", "put", "patch") else None
    # A savepoint per request: a write that succeeds is undone before the next principal asks.
    with transaction.atomic():
        response = getattr(client, method)(url, body, format="json")
        transaction.set_rollback(True)
    connection.set_schema_to_public()
    return response


def _problem(expected: str, status: int, obj: str) -> str | None:
    if expected == "allowed":
        if status in (401, 403) or status >= 500:
            return f"allowed but got {status}"
        if obj == "other org's" and 200 <= status < 300:
            return f"got {status} on the other organization's object"
        return None
    if expected == "not 403":
        return None if status != 403 and status < 500 else f"expected no 403, got {status}"
    if expected == "refused":
        return None if status in (401, 403) else f"expected 401/403, got {status}"
    return None if str(status) == expected else f"expected {expected}, got {status}"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_route_answers_every_principal_as_the_table_says(case, acme, globex):
    rule = policy.POLICY.get(case.key)
    assert rule is not None, f"{case}: no entry in core.policy.POLICY"
    principals = _principals(acme, globex)
    detail = "pk" in case.kwargs
    targets = {"-": None}
    if detail:
        basename = case.key[0]
        targets = {
            "own": _detail_object(basename, acme, foreign=False),
            "other org's": _detail_object(basename, globex, foreign=True),
        }
    connection.set_schema_to_public()
    problems = []
    for obj, args in targets.items():
        kwargs = {name: args[name] for name in case.kwargs} if args else {}
        url = reverse(case.url_name, urlconf=URLCONF, kwargs=kwargs)
        for name, (client, who) in principals.items():
            if obj == "other org's" and who not in Role.values:
                continue  # refused before any lookup: asked once, on the own object
            if rule.role == policy.PUBLIC and name not in PUBLIC_ASKERS:
                continue  # open to all: the schema alone takes a second to build
            status = _request(client, case.method, url).status_code
            problem = _problem(_expected(rule, who), status, obj)
            if problem:
                problems.append(f"{name} on {obj} object ({url}): {problem}")
    assert not problems, f"{case} [{rule}]:\n" + "\n".join(problems)


def _api_routes() -> list[Case]:
    """One case per API route (OPTIONS is asked once per URL pattern)."""
    seen, routes = set(), []
    for case in CASES:
        if case.route.startswith("api/v1/") and case.route not in seen:
            seen.add(case.route)
            routes.append(case)
    return routes


def _absent_url(case: Case) -> str:
    """The route's URL on an object neither organization has."""
    try:
        kwargs = {name: FOREIGN_PK + 1 for name in case.kwargs}
        return reverse(case.url_name, urlconf=URLCONF, kwargs=kwargs)
    except NoReverseMatch:  # a UUID key
        kwargs = {name: uuid.uuid4() for name in case.kwargs}
        return reverse(case.url_name, urlconf=URLCONF, kwargs=kwargs)


@pytest.mark.parametrize("case", _api_routes(), ids=lambda c: c.route)
def test_options_follows_the_most_open_action_of_the_route(case, acme):
    rule = policy.rule_for(case.key[0], "metadata" if case.viewset else "options")
    assert rule is not None, f"{case}: no entry in core.policy.POLICY"
    url = _absent_url(case)
    principals = {"anonymous": (APIClient(HTTP_HOST=acme.host), "anonymous")}
    principals |= {role: (acme.client(role), role) for role in Role.values}
    problems = []
    for name, (client, who) in principals.items():
        status = _request(client, "options", url).status_code
        problem = _problem(_expected(rule, who), status, "-")
        if problem:
            problems.append(f"{name}: {problem}")
    assert not problems, f"OPTIONS {case.route} [{rule}]:\n" + "\n".join(problems)


def test_a_method_a_route_does_not_route_is_405_for_members_and_401_for_the_anonymous(acme):
    url = reverse("organization-settings", urlconf=URLCONF)
    assert acme.client(Role.OWNER).delete(url).status_code == 405
    assert APIClient(HTTP_HOST=acme.host).delete(url).status_code == 401
    tasks = reverse("task-list", urlconf=URLCONF)
    assert acme.client(Role.STAFF).put(tasks, {}, format="json").status_code == 405


def test_a_route_left_out_of_the_table_is_refused_and_logged(acme, monkeypatch, caplog):
    """Fail closed: the entry gone, even the owner gets 403 and an error is logged."""
    url = reverse("organization-settings", urlconf=URLCONF)
    assert acme.client(Role.OWNER).get(url).status_code == 200
    monkeypatch.delitem(policy.POLICY, ("organization-settings", "get"))
    with caplog.at_level("ERROR", logger="core.policy"):
        response = acme.client(Role.OWNER).get(url)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"
    assert any(
        getattr(r, "policy_resource", None) == "organization-settings" for r in caplog.records
    )
