from django.urls import path

from .consumers import TaskEventsConsumer

websocket_urlpatterns = [path("ws/v1/tasks/", TaskEventsConsumer.as_asgi())]
