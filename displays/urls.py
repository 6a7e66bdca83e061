from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import ScreenViewSet, TicketView

router = SimpleRouter()
router.register("screens", ScreenViewSet, basename="screen")

urlpatterns = [
    path("realtime/tickets/", TicketView.as_view(), name="realtime-ticket"),
    *router.urls,
]
