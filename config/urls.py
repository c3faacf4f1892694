from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("collection.api_urls")),
    path("api/v1/", include("endpoints.api_urls")),
    path("api/v1/", include("panels.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("workbench/", include("workbench.urls")),
    path("", include("aggregation.urls")),
    path("", include("collection.urls")),
    path("", include("endpoints.urls")),
    path("", include("panels.urls")),
]
