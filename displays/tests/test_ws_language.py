"""WebSocket messages follow DESIGN 13 like HTTP ones: the handshake's Accept-Language, else the
organization's language; the error ``code`` never changes."""

from channels.testing import WebsocketCommunicator

from .conftest import run


def _socket(host: str, language: str | None) -> WebsocketCommunicator:
    from config.asgi import application

    headers = [(b"host", host.encode()), (b"origin", f"http://{host}".encode())]
    if language:
        headers.append((b"accept-language", language.encode()))
    return WebsocketCommunicator(application, "/ws/v1/tasks/?ticket=nope", headers=headers)


async def _first_error(comm) -> dict:
    connected, _ = await comm.connect()
    assert connected
    message = await comm.receive_json_from(timeout=5)
    await comm.disconnect()
    assert message["type"] == "error"
    return message


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_the_handshake_language_wins(rt_a):
    async def body():
        chinese = await _first_error(_socket(rt_a.host, "zh-CN,zh;q=0.9"))
        english = await _first_error(_socket(rt_a.host, "en"))
        assert chinese["code"] == english["code"] == "INVALID_TICKET"
        assert _has_cjk(chinese["message"]) and not _has_cjk(english["message"])

    run(body)


def test_without_a_header_the_organizations_language_applies(rt_a):
    from organizations.models import Organization

    organization = Organization.objects.filter(pk=rt_a.org.organization.pk)
    before = organization.values_list("language", flat=True).get()
    organization.update(language="zh-hans")

    async def body():
        message = await _first_error(_socket(rt_a.host, None))
        assert message["code"] == "INVALID_TICKET" and _has_cjk(message["message"])

    try:
        run(body)
    finally:
        organization.update(language=before)


def test_an_unknown_host_answers_in_the_handshake_language(live_db):
    async def body():
        message = await _first_error(_socket("nobody.localhost", "zh-hans"))
        assert message["code"] == "TENANT_NOT_FOUND" and _has_cjk(message["message"])

    run(body)
