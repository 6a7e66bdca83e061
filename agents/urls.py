from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("agent-categories", views.AgentCategoryViewSet, basename="agent-category")
router.register("agents", views.AgentViewSet, basename="agent")

urlpatterns: list = router.urls
