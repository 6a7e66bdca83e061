"""zh-Hans everywhere (DESIGN 13): the catalog is complete and compiles without GNU gettext, the
envelope's message follows Accept-Language > user > organization > LANGUAGE_CODE while its code
never changes, every error code has a Chinese message, and the board and the Excel reports speak
the organization's language."""

import ast
import gettext
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from zoneinfo import ZoneInfo

import polib
import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone, translation
from django_tenants.utils import tenant_context
from openpyxl import load_workbook
from rest_framework.test import APIClient

from accounts.models import User
from core.exceptions import ApplicationError
from core.local_cache import local_caches_clear
from core.management.commands.compilemessages import catalogs, compile_catalog
from organizations.models import Organization
from reports.choices import ReportKind, ReportStatus
from reports.models import DailyReport
from reports.services import report_due_date, report_enqueue, report_generate
from testing.factories import TaskSpec, catalog_named, tasks_bulk

BASE = Path(settings.BASE_DIR)
PO = BASE / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
CJK = re.compile(r"[\u4e00-\u9fff]")
# printf-style and the board's {name} placeholders must survive translation unchanged.
PLACEHOLDER = re.compile(r"%\(\w+\)[-+ #0]*\d*(?:\.\d+)?[sdfr]|%[sdr]|\{\w+\}")
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def set_language(org, language: str) -> None:
    """Switch a shared test organization's language (rolled back with the test's transaction);
    the per-process host -> organization lookup is dropped so the next request reads it."""
    Organization.objects.filter(pk=org.organization.pk).update(language=language)
    local_caches_clear()


def has_chinese(text: str) -> bool:
    return bool(CJK.search(text))


# --- The catalog ------------------------------------------------------------------------------


def test_every_message_is_translated_and_none_is_fuzzy():
    catalog = polib.pofile(str(PO))
    assert not catalog.metadata_is_fuzzy, "the header is still the makemessages template"
    assert catalog.metadata["Language"] == "zh_Hans"
    assert catalog.metadata["Plural-Forms"].startswith("nplurals=1;")
    entries = [e for e in catalog if not e.obsolete]
    assert len(entries) > 300
    untranslated = [e.msgid for e in entries if not e.translated()]
    fuzzy = [e.msgid for e in entries if "fuzzy" in e.flags]
    assert not untranslated, f"untranslated (make messages, then translate): {untranslated}"
    assert not fuzzy, f"fuzzy (check the translation, drop the flag): {fuzzy}"
    for entry in entries:
        translations = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        for text in translations:
            assert sorted(PLACEHOLDER.findall(entry.msgid)) == sorted(PLACEHOLDER.findall(text)), (
                entry.msgid
            )


def test_catalog_compiles_in_pure_python_and_reads_back(tmp_path):
    target = tmp_path / "django.mo"
    catalog = compile_catalog(PO, target)
    with target.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for entry in catalog.translated_entries():
        if entry.msgid_plural:
            continue
        key = f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt else entry.msgid
        assert compiled.gettext(key) == entry.msgstr


def test_compilemessages_needs_no_msgfmt(tmp_path):
    """The install step on a machine with only Python: no gettext tool on PATH at all."""
    assert catalogs() == [PO]
    env = {**os.environ, "PATH": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    done = subprocess.run(
        [sys.executable, "manage.py", "compilemessages", "-l", "zh_Hans"],
        cwd=BASE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "messages compiled" in done.stdout
    assert PO.with_suffix(".mo").stat().st_size > 10_000


def test_the_compiled_catalog_is_up_to_date():
    """What Django serves is what the .po says (catches a .po edited without `make`)."""
    mo = PO.with_suffix(".mo")
    assert mo.exists(), "run `make test` or `manage.py compilemessages`"
    with mo.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = [
        e.msgid
        for e in polib.pofile(str(PO)).translated_entries()
        if not e.msgid_plural and not e.msgctxt and compiled.gettext(e.msgid) != e.msgstr
    ]
    assert not stale, f"locale .mo older than the .po; run manage.py compilemessages: {stale}"


# --- Every error code has a Chinese message ----------------------------------------------------


def _project_modules() -> list[str]:
    apps = sorted(p.parent.name for p in BASE.glob("*/apps.py"))
    modules = []
    for app in apps:
        for path in sorted((BASE / app).rglob("*.py")):
            relative = path.relative_to(BASE)
            if {"tests", "migrations", "management"} & set(relative.parts[:-1]):
                continue
            modules.append(str(relative))
    return modules


def _literal_messages() -> dict[str, set[str]]:
    """code -> messages of every ``...Error(_("message"), code="CODE")`` in the project's code
    and of the Django-level envelopes (``error_response(code=..., message=_(...))``)."""
    found: dict[str, set[str]] = {}
    for module in _project_modules():
        tree = ast.parse((BASE / module).read_text())
        for node in ast.walk(tree):
            # ("CODE", _("message")) pairs (e.g. Organization.access_refusal).
            if isinstance(node, ast.Tuple) and len(node.elts) == 2:
                code, message = node.elts
                if (
                    isinstance(code, ast.Constant)
                    and re.fullmatch(r"[A-Z][A-Z_]+", str(code.value))
                    and _is_gettext(message)
                ):
                    found.setdefault(code.value, set()).add(message.args[0].value)
            if not isinstance(node, ast.Call):
                continue
            keywords = {k.arg: k.value for k in node.keywords}
            code = keywords.get("code")
            if not (isinstance(code, ast.Constant) and re.fullmatch(r"[A-Z_]+", str(code.value))):
                continue
            message = keywords.get("message") or (node.args[0] if node.args else None)
            if _is_gettext(message):
                found.setdefault(code.value, set()).add(message.args[0].value)
    return found


def _is_gettext(node) -> bool:
    return (
        isinstance(node, ast.Call)
        and getattr(node.func, "id", "") in ("_", "gettext", "gettext_lazy")
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
    )


def _subclasses(klass) -> list[type]:
    result = []
    for sub in klass.__subclasses__():
        result += [sub, *_subclasses(sub)]
    return result


def test_every_error_code_has_a_chinese_message():
    import importlib

    for module in _project_modules():
        importlib.import_module(module[:-3].replace("/", "."))
    messages: dict[str, set[str]] = {}
    for klass in [ApplicationError, *_subclasses(ApplicationError)]:
        messages.setdefault(klass.code, set()).add(str(klass.default_message))
    for code, texts in _literal_messages().items():
        messages.setdefault(code, set()).update(texts)
    # A stock class without its own message falls back to the base one: the code still counts.
    assert {"INVALID_TRANSITION", "TENANT_NOT_FOUND", "ORGANIZATION_SUSPENDED"} <= set(messages)
    assert len(messages) >= 40, sorted(messages)
    missing = []
    for code, texts in sorted(messages.items()):
        for english in texts:
            with translation.override("zh-hans"):
                chinese = translation.gettext(english)
            if chinese == english or not has_chinese(chinese):
                missing.append((code, english))
    assert not missing, f"error messages without a zh-Hans translation: {missing}"


def test_drf_and_handler_messages_are_chinese_too():
    """The DRF exceptions the envelope maps to codes carry DRF's own (translated) messages."""
    from rest_framework import exceptions as drf

    from core.exceptions import _DRF_CODES

    for klass, code in _DRF_CODES.items():
        with translation.override("zh-hans"):
            chinese = str(klass.default_detail)
        with translation.override("en"):
            english = str(klass.default_detail)
        assert chinese != english and has_chinese(chinese), (code, english)
    assert issubclass(drf.Throttled, drf.APIException)


# --- The envelope follows the language; the code does not -------------------------------------


def _both(request) -> tuple[dict, dict]:
    """(English, Chinese) error bodies of one request made with each Accept-Language."""
    english, chinese = request(EN), request(ZH)
    assert english.status_code == chinese.status_code
    en_error, zh_error = english.json()["error"], chinese.json()["error"]
    assert en_error["code"] == zh_error["code"]
    assert not has_chinese(en_error["message"]), en_error
    assert has_chinese(zh_error["message"]), zh_error
    assert english["Content-Language"] == "en" and chinese["Content-Language"] == "zh-hans"
    assert "Accept-Language" in chinese["Vary"]
    return en_error, zh_error


def test_unknown_route_404(acme):
    en, zh = _both(lambda h: APIClient(HTTP_HOST=acme.host, **h).get("/api/v1/no-such-thing/"))
    assert en == {"code": "NOT_FOUND", "message": "Not found.", "details": {}}
    assert zh["message"] == "未找到。"


def test_invalid_token_401(acme):
    def request(headers):
        client = APIClient(HTTP_HOST=acme.host, **headers)
        client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")
        return client.get("/api/v1/auth/me/")

    en, _zh = _both(request)
    assert en["code"] in ("AUTHENTICATION_FAILED", "NOT_AUTHENTICATED")


def test_validation_400_messages_and_field_messages(acme):
    en, zh = _both(lambda h: acme.client("staff").post("/api/v1/tasks/", {}, format="json", **h))
    assert en["code"] == "VALIDATION_ERROR"
    assert en["message"] == "Some fields are invalid."
    assert zh["message"] == "部分字段无效。"
    assert en["details"]["fields"].keys() == zh["details"]["fields"].keys()
    assert has_chinese(str(zh["details"]["fields"]))


def test_invalid_transition_409(acme):
    from testing.factories import catalog_make

    noodles = catalog_make().noodles
    created = acme.client("staff").post(
        "/api/v1/tasks/", {"items": [{"agent_id": noodles.pk, "quantity": 1}]}, format="json"
    )
    assert created.status_code == 201, created.json()
    url = f"/api/v1/tasks/{created.json()['id']}/complete/"
    en, zh = _both(lambda h: acme.client("staff").post(url, **h))
    assert en["code"] == "INVALID_TRANSITION"
    assert en["message"] == "This status change is not allowed."
    assert zh["message"] == "不允许此状态变更。"
    assert en["details"] == zh["details"]


def test_login_lockout_429(acme):
    def request(headers):
        email = f"locked-{headers['HTTP_ACCEPT_LANGUAGE']}@acme.test"
        client = APIClient(HTTP_HOST=acme.host, **headers)
        for _attempt in range(6):
            response = client.post(
                "/api/v1/auth/token/", {"email": email, "password": "wrong"}, format="json"
            )
        return response

    en, _zh = _both(request)
    assert en["code"] == "LOGIN_LOCKED"


def test_tenant_middleware_unknown_host_and_suspended(acme):
    en, zh = _both(lambda h: APIClient(HTTP_HOST="nobody.localhost", **h).get("/api/v1/auth/me/"))
    assert en["code"] == "TENANT_NOT_FOUND"
    assert en["message"] == "No organization is served at this host."
    assert zh["message"] == "此主机名下没有商户。"
    assert en["details"] == zh["details"] == {"host": "nobody.localhost"}

    Organization.objects.filter(pk=acme.organization.pk).update(is_active=False)
    local_caches_clear()
    en, zh = _both(lambda h: APIClient(HTTP_HOST=acme.host, **h).get("/api/v1/auth/me/"))
    assert en["code"] == "ORGANIZATION_SUSPENDED"
    assert zh["message"] == "该商户已被停用，请联系平台运营方。"


def test_body_too_large_413(acme):
    body = b"{" + b" " * (settings.MAX_REQUEST_BYTES + 1) + b"}"
    en, _zh = _both(
        lambda h: APIClient(HTTP_HOST=acme.host, **h).generic(
            "POST", "/api/v1/tasks/", body, content_type="application/json"
        )
    )
    assert en["code"] == "REQUEST_TOO_LARGE"


# --- Resolution order: header > user > organization > LANGUAGE_CODE -----------------------------


def _message(response) -> str:
    return response.json()["error"]["message"]


def test_organization_language_defaults_to_chinese():
    assert Organization(name="New", slug="new").language == "zh-hans"
    assert Organization._meta.get_field("language").default == "zh-hans"


def test_organization_language_applies_without_accept_language(acme):
    anonymous = APIClient(HTTP_HOST=acme.host)
    assert _message(anonymous.get("/api/v1/no-such-thing/")) == "Not found."
    set_language(acme, "zh-hans")
    response = anonymous.get("/api/v1/no-such-thing/")
    assert _message(response) == "未找到。"
    assert response["Content-Language"] == "zh-hans"
    # A language the site does not have falls through to the organization's.
    assert (
        _message(anonymous.get("/api/v1/no-such-thing/", HTTP_ACCEPT_LANGUAGE="fr")) == "未找到。"
    )
    # A browser's regional variant is understood.
    english = anonymous.get("/api/v1/no-such-thing/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert _message(english) == "Not found."


def test_user_language_beats_the_organization_and_the_header_beats_both(acme):
    set_language(acme, "zh-hans")
    user = acme.users["staff"]
    missing = "/api/v1/tasks/987654/"
    assert _message(acme.client("staff").get(missing)) == "未找到。"

    User.objects.filter(pk=user.pk).update(language="en")
    local_caches_clear()
    response = acme.client("staff").get(missing)
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert not has_chinese(_message(response))
    assert response["Content-Language"] == "en"
    assert has_chinese(_message(acme.client("staff").get(missing, **ZH)))

    set_language(acme, "en")
    User.objects.filter(pk=user.pk).update(language="zh-hans")
    local_caches_clear()
    assert has_chinese(_message(acme.client("staff").get(missing)))
    assert not has_chinese(_message(acme.client("staff").get(missing, **EN)))


def test_platform_host_keeps_language_code(acme):
    public = Organization.objects.get(schema_name="public")
    assert public.language == "zh-hans"  # the row's default: nobody's choice
    response = APIClient(HTTP_HOST=settings.PUBLIC_DOMAIN).get("/api/v1/nothing-here/")
    assert response.json()["error"]["message"] == "Not found."
    assert translation.get_language() == settings.LANGUAGE_CODE  # reset after the request


def test_organization_endpoint_reads_and_sets_language(acme):
    owner = acme.client("owner")
    assert owner.get("/api/v1/organization/").json()["language"] == "en"
    updated = owner.patch("/api/v1/organization/", {"language": "zh-hans"}, format="json")
    assert updated.status_code == 200, updated.json()
    assert updated.json()["language"] == "zh-hans"
    refused = owner.patch("/api/v1/organization/", {"language": "fr"}, format="json", **ZH)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "VALIDATION_ERROR"
    assert has_chinese(str(refused.json()["error"]["details"]))


# --- The board and the reports --------------------------------------------------------------


def test_board_page_is_chinese_for_a_chinese_organization(acme):
    set_language(acme, "zh-hans")
    page = APIClient(HTTP_HOST=acme.host).get("/display/")
    assert page.status_code == 200
    text = page.content.decode()
    assert '<html lang="zh-hans"' in text
    for chinese in ("键盘快捷键", "设置此显示屏", "屏幕令牌", "待接单", "加急"):
        assert chinese in text, chinese
    assert "Keyboard shortcuts" not in text

    set_language(acme, "en")
    english = APIClient(HTTP_HOST=acme.host).get("/display/").content.decode()
    assert "Keyboard shortcuts" in english and "键盘快捷键" not in english


SHEETS_ZH = ["汇总", "分时段", "菜品", "分类", "订单"]
SHEETS_EN = ["Summary", "Hourly", "Agents", "Categories", "Tasks"]


def _workbook_texts(path_or_file) -> tuple[list[str], list, list]:
    workbook = load_workbook(path_or_file)
    summary_header = [c.value for c in workbook.worksheets[0][3]]
    tasks_header = [c.value for c in workbook.worksheets[-1][1]]
    return workbook.sheetnames, summary_header, tasks_header


def test_excel_report_in_the_organization_language(acme, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    day = report_due_date(acme.organization, timezone.now())
    for language, sheets in (("zh-hans", SHEETS_ZH), ("en", SHEETS_EN)):
        acme.organization.language = language  # what the job reads: connection.tenant
        try:
            # A request's language (a manager reading English) does not change the workbook.
            with translation.override("en" if language == "zh-hans" else "zh-hans"):
                report = report_generate(kind=ReportKind.DAILY, period=day, force=True)
        finally:
            acme.organization.language = "en"
        names, summary, tasks = _workbook_texts(default_storage.open(report.file.name, "rb"))
        assert names == sheets
        if language == "zh-hans":
            assert summary[:2] == ["指标", "数值"]
            assert tasks[:3] == ["单号", "状态", "桌台"]
        else:
            assert summary[:2] == ["Indicator", "Value"]
            assert tasks[:3] == ["Number", "Status", "Workspace"]


@pytest.mark.slow
def test_excel_report_from_the_celery_worker_is_chinese(committed_org, celery_worker_process):
    """The job path: beat/regenerate -> a real worker -> the workbook in the org's language."""
    org = committed_org.organization
    Organization.objects.filter(pk=org.pk).update(
        language="zh-hans", created_at=timezone.now() - timedelta(days=30)
    )
    org.refresh_from_db()
    day = report_due_date(org, timezone.now())
    with tenant_context(org):
        cola = catalog_named().agents["Cola"]
        noon = datetime.combine(day, time_of_day(12, 0), tzinfo=ZoneInfo(org.timezone))
        tasks_bulk(org, [TaskSpec(noon, "completed", [(cola, 2)])])
        report_enqueue(kind=ReportKind.DAILY, period=day, force=True)
    deadline = time.monotonic() + 60
    report = None
    while time.monotonic() < deadline:
        with tenant_context(org):
            report = DailyReport.objects.filter(business_date=day).first()
        if report is not None and report.status == ReportStatus.READY:
            break
        time.sleep(0.3)
    connection.set_schema_to_public()
    assert report is not None and report.status == ReportStatus.READY, (
        celery_worker_process.log_path.read_text()
    )
    names, summary, tasks = _workbook_texts(default_storage.open(report.file.name, "rb"))
    assert names == SHEETS_ZH
    assert summary[:2] == ["指标", "数值"]
    assert tasks[:2] == ["单号", "状态"]
    workbook = load_workbook(default_storage.open(report.file.name, "rb"))
    assert f"营业日报 {day}" in workbook["汇总"]["A1"].value
    assert workbook["订单"]["B2"].value == "已完成"
