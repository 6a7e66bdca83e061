"""The operators' admin in zh-Hans and English (DESIGN 13): our models' names and field labels,
the admin's own columns, fieldsets and actions follow the reader's language (``Accept-Language``
on the platform host, docs/i18n.md), and every field of every model of our apps carries a label
that has a Chinese translation, so a new field without one fails here."""

import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.conf import settings
from django.test import Client
from django.utils import timezone, translation
from django.utils.functional import Promise

from accounts.models import User
from audit.choices import PlatformAction
from audit.services import platform_audit_record
from organizations.models import Organization, PlatformAuditEvent
from signups.models import SignupApplication

OUR_APPS = [
    "core",
    "organizations",
    "accounts",
    "signups",
    "agents",
    "tasks",
    "events",
    "displays",
    "reports",
    "audit",
    "exports",
]
CJK = re.compile(r"[\u4e00-\u9fff]")
CHANGELIST = "/admin/organizations/organization/"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}

# What the organization pages show, in both languages: model field labels (verbose_name, as a
# column title, a form label or a list filter title) and the admin's own column, fieldset and
# action names.
CHANGELIST_LABELS = {
    "商户": "Organizations",  # verbose_name_plural (title, breadcrumbs)
    "菜品上限": "Max agents",  # a plan limit column: the field's verbose_name
    "每分钟请求数": "Requests per minute",
    "操作日志保留天数": "Audit retention days",
    "今日订单": "Tasks today",  # @admin.display columns
    "在线显示屏": "Screens online",
    "最近活动": "Last activity",
    "停用所选商户": "Suspend selected organizations",  # actions
    "安排删除所选商户": "Schedule deletion of selected organizations",
    "导出所选商户的数据": "Export the data of selected organizations",
}
CHANGE_FORM_LABELS = {
    "营业日开始时间": "Business day start",
    "高峰时段": "Peak windows",
    "卡片变黄时间（分钟）": "Card amber minutes",
    "订单过期时间（分钟）": "Task expiry minutes",
    "报表生成时间": "Report time",
    "允许跨域访问的来源（CORS）": "CORS allowed origins",
    "安排删除时间": "Deletion scheduled at",
    "运营数据（只读）": "Operations (read only)",  # fieldset
    "失败的报表任务": "Report jobs that failed",  # read-only panels
    "库存核对差异": "Stock reconciliation drift",
    "主域名": "Is primary",  # the domains inline (Domain's label over DomainMixin's field)
}


@pytest.fixture
def operator(db):
    return User.objects.create_superuser(email="ops-i18n@platform.test", password="pw-ops-123!")


@pytest.fixture
def ops(operator):
    client = Client(HTTP_HOST=settings.PUBLIC_DOMAIN)
    client.force_login(operator)
    return client


def _page(client: Client, url: str, headers: dict) -> str:
    response = client.get(url, **headers)
    assert response.status_code == 200, url
    return response.content.decode()


def _assert_language(page: str, labels: dict[str, str], *, chinese: bool) -> None:
    for zh, en in labels.items():
        shown, hidden = (zh, en) if chinese else (en, zh)
        assert shown in page, shown
        assert hidden not in page, hidden


# --- The pages ------------------------------------------------------------------------------


def test_organization_changelist_in_chinese_and_english(ops, acme):
    zh = _page(ops, CHANGELIST, ZH)
    _assert_language(zh, CHANGELIST_LABELS, chinese=True)
    assert 'lang="zh-hans"' in zh
    # A list filter's title is the field's label, in Django's own "By <label>".
    assert "is active" not in zh
    en = _page(ops, CHANGELIST, EN)
    _assert_language(en, CHANGELIST_LABELS, chinese=False)
    assert "By is active" in en
    assert not CJK.search(en), "Chinese on the English page"


def test_organization_change_form_in_chinese_and_english(ops, acme):
    url = f"{CHANGELIST}{acme.organization.pk}/change/"
    zh = _page(ops, url, ZH)
    _assert_language(zh, CHANGE_FORM_LABELS, chinese=True)
    en = _page(ops, url, EN)
    _assert_language(en, CHANGE_FORM_LABELS, chinese=False)


def test_add_organization_form_help_follows_the_reader(ops, db):
    # The help text is formatted when shown, not once at import in whatever language was active.
    suffix = settings.TENANT_DOMAIN_SUFFIX
    zh = _page(ops, f"{CHANGELIST}add/", ZH)
    assert f"默认：&lt;slug&gt;.{suffix}" in zh
    en = _page(ops, f"{CHANGELIST}add/", EN)
    assert f"Default: &lt;slug&gt;.{suffix}" in en and "默认" not in en


def test_platform_audit_and_users_in_chinese_and_english(ops, acme, operator):
    suspend = PlatformAction.ORGANIZATION_SUSPEND
    platform_audit_record(action=suspend, organization=acme.organization)
    audit = "/admin/organizations/platformauditevent/"
    labels = {"操作者": "Actor label", "商户标识": "Organization slug", "IP 地址": "IP address"}
    zh = _page(ops, audit, ZH)
    _assert_language(zh, labels, chinese=True)
    assert ">时间</a>" in zh  # the "at" column, sortable
    # The action column: the action's name in the reader's language, then its code.
    assert "停用商户 (organization.suspend)" in zh
    row = PlatformAuditEvent.objects.latest("id")
    detail = _page(ops, f"{audit}{row.pk}/change/", ZH)
    _assert_language(detail, {"请求 ID": "Request ID", "商户 ID": "Organization ID"}, chinese=True)
    en = _page(ops, audit, EN)
    _assert_language(en, labels, chinese=False)
    assert ">Time</a>" in en
    assert "Organization suspended (organization.suspend)" in en

    url = f"/admin/accounts/user/{operator.pk}/change/"
    user_labels = {"姓名": "Full name", "平台运营人员": "Is staff", "注册时间": "Date joined"}
    _assert_language(_page(ops, url, ZH), user_labels, chinese=True)
    _assert_language(_page(ops, url, EN), user_labels, chinese=False)


def test_signup_applications_in_chinese_and_english(ops, db):
    SignupApplication.objects.create(
        organization_name="Noodle Bar",
        slug="noodle-bar-i18n",
        contact_email="noodles@example.test",
        token_hash="0" * 64,
        token_expires_at=timezone.now() + timedelta(days=1),
    )
    url = "/admin/signups/signupapplication/"
    labels = {
        "入驻申请": "Signup applications",
        "联系邮箱": "Contact email",
        "确认时间": "Confirmed at",
        "批准：创建商户并邀请所有者": "Approve: create the organization and invite the owner",
    }
    zh = _page(ops, url, ZH)
    _assert_language(zh, labels, chinese=True)
    en = _page(ops, url, EN)
    _assert_language(en, labels, chinese=False)


# --- Every label of every model ---------------------------------------------------------------


def _translations(text) -> tuple[str, str]:
    with translation.override("en"):
        english = str(text)
    with translation.override("zh-hans"):
        chinese = str(text)
    return english, chinese


def _our_models():
    return [model for label in OUR_APPS for model in apps.get_app_config(label).get_models()]


def test_our_apps_have_models():
    names = {model.__name__ for model in _our_models()}
    assert {"Organization", "User", "Task", "Agent", "Screen", "ExportJob"} <= names


@pytest.mark.parametrize("model", _our_models(), ids=lambda m: m._meta.label)
def test_every_model_and_field_label_is_translated(model):
    """A model's names and each field's label (and help text) are lazy translations with a
    Chinese text: add a field without ``verbose_name=_("...")`` and this fails (docs/i18n.md)."""
    problems = []
    for what, text in [
        ("verbose_name", model._meta.verbose_name),
        ("verbose_name_plural", model._meta.verbose_name_plural),
    ]:
        english, chinese = _translations(text)
        if not isinstance(text, Promise) or chinese == english or not CJK.search(chinese):
            problems.append(f"{model._meta.label}.Meta.{what} = {english!r} -> {chinese!r}")
    # Every field declared on the model or inherited (Django's, django-tenants'), not reverse
    # relations and not the implicit ``id`` (Django labels it "ID" in every language).
    fields = [f for f in model._meta.get_fields() if not f.auto_created]
    assert fields, model
    for field in fields:
        for what in ("verbose_name", "help_text"):
            text = getattr(field, what)
            if what == "help_text" and not text:
                continue
            english, chinese = _translations(text)
            if not isinstance(text, Promise) or chinese == english or not CJK.search(chinese):
                problems.append(f"{model._meta.label}.{field.name}.{what} = {english!r}")
    assert not problems, (
        "label it: verbose_name=_('...') (gettext_lazy), then make messages and translate:\n"
        + "\n".join(problems)
    )


def test_organization_labels_in_both_languages():
    field = Organization._meta.get_field("max_agents")
    assert _translations(field.verbose_name) == ("max agents", "菜品上限")
    assert _translations(Organization._meta.verbose_name_plural) == ("organizations", "商户")


def test_login_lockouts_page_in_chinese_and_english(ops, operator):
    # One failed admin login: a counter per email and per client IP.
    stranger = Client(HTTP_HOST=settings.PUBLIC_DOMAIN)
    stranger.post("/admin/login/", {"username": operator.email, "password": "wrong-password"})
    url = "/admin/login-lockouts/"
    labels = {"登录锁定": "Login lockouts", "失败次数": "Failures", "邮箱": "Email"}
    zh = _page(ops, url, ZH)
    _assert_language(zh, labels, chinese=True)
    assert operator.email in zh and "IP 地址" in zh
    _assert_language(_page(ops, url, EN), labels, chinese=False)


def test_the_openapi_schema_names_fields_the_same_in_every_language(acme):
    """Field labels are admin text: the schema served in Chinese carries no translated field
    titles (generated clients must not change with the reader's language)."""

    def titles(node) -> list:
        if isinstance(node, dict):
            found = [node["title"]] if isinstance(node.get("title"), str) else []
            return found + [t for key, v in node.items() if key != "info" for t in titles(v)]
        if isinstance(node, list):
            return [t for v in node for t in titles(v)]
        return []

    client = acme.client("manager")
    zh = client.get("/api/schema/?format=json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    en = client.get("/api/schema/?format=json", HTTP_ACCEPT_LANGUAGE="en")
    assert zh.status_code == en.status_code == 200
    assert titles(zh.json()["components"]) == titles(en.json()["components"]) == []
    assert zh.json()["components"]["schemas"].keys() == en.json()["components"]["schemas"].keys()
