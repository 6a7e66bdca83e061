"""ASGI entry point: one origin for HTTP and WebSockets.

WebSockets go to Channels (Origin check, organization from the Host, consumers). HTTP goes to
Django's *WSGI* handler run on a thread pool (uvicorn's WSGI adapter) by default: our views are
synchronous, and Django's ASGI handler hops every request through ``sync_to_async`` onto one
thread per process, which measured several times slower on 2 cores (docs/serving.md).
``ASGI_HTTP=asgi`` switches back to Django's ASGI handler. ``/static/`` is served by
whitenoise's middleware (the display board's JS/CSS; a CDN or reverse proxy can take it over).

The settings default to production: a server started without DJANGO_SETTINGS_MODULE refuses to
start unless it is given a secret key and allowed hosts (`make run` and the tests name theirs).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

from config.routing import websocket_application  # noqa: E402
from core.gc_tuning import gc_tune_for_serving  # noqa: E402

HTTP_MODE = os.environ.get("ASGI_HTTP", "wsgi")
HTTP_THREADS = int(os.environ.get("ASGI_HTTP_THREADS", "8"))


def _http_application():
    if HTTP_MODE == "asgi":
        return django_asgi_app
    from uvicorn.middleware.wsgi import WSGIMiddleware

    from core.wsgi_close import closing

    # closing(): uvicorn's adapter never closes the response, so request_finished (and with it
    # CONN_MAX_AGE) would never run at a request's end (core/wsgi_close.py).
    return WSGIMiddleware(closing(get_wsgi_application()), workers=HTTP_THREADS)


from core.asgi_limits import RequestSizeLimit  # noqa: E402  (MAX_REQUEST_BYTES before buffering)

application = ProtocolTypeRouter(
    {"http": RequestSizeLimit(_http_application()), "websocket": websocket_application}
)

gc_tune_for_serving()
