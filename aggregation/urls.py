"""Release, campaign and dashboard pages, and the export and alert API. Include at
the site root: ``path("", include("aggregation.urls"))`` in config/urls.py."""

from django.urls import path

from aggregation import apis, views

api = [
    path(
        "api/v1/campaigns/<slug:slug>/exports/", apis.ExportCreateApi.as_view(), name="api-exports"
    ),
    path("api/v1/exports/<int:job_id>/", apis.ExportDetailApi.as_view(), name="api-export-detail"),
    path(
        "api/v1/exports/<int:job_id>/retry/", apis.ExportRetryApi.as_view(), name="api-export-retry"
    ),
    path(
        "api/v1/campaigns/<slug:slug>/releases/",
        apis.ReleaseListApi.as_view(),
        name="api-releases",
    ),
    path(
        "api/v1/campaigns/<slug:slug>/releases/<int:version>/",
        apis.ReleaseDetailApi.as_view(),
        name="api-release-detail",
    ),
    path(
        "api/v1/campaigns/<slug:slug>/releases/<int:version>/download/",
        apis.ReleaseDownloadApi.as_view(),
        name="api-release-download",
    ),
    path(
        "api/v1/campaigns/<slug:slug>/releases/<int:version>/files/<path:path>",
        apis.ReleaseFileApi.as_view(),
        name="api-release-file",
    ),
    path("api/v1/alerts/", apis.AlertListApi.as_view(), name="api-alerts"),
]

pages = [
    path("dashboard/", views.coverage_dashboard, name="coverage_dashboard"),
    path("campaigns/", views.campaign_list, name="campaign_list"),
    path("campaigns/<slug:slug>/", views.campaign_detail, name="campaign_detail"),
    path(
        "campaigns/<slug:slug>/charts/<slug:name>.svg",
        views.campaign_chart,
        name="campaign_chart",
    ),
    path("campaigns/<slug:slug>/releases/", views.releases, name="campaign_releases"),
    path(
        "campaigns/<slug:slug>/releases/<int:job_id>/retry/",
        views.release_retry,
        name="campaign_release_retry",
    ),
    # The same numbers as the API's paths (.../releases/1/...).
    path(
        "campaigns/<slug:slug>/releases/<int:version>/",
        views.release_card,
        name="campaign_release_card",
    ),
    path(
        "campaigns/<slug:slug>/releases/<int:version>/download/",
        views.release_download,
        name="campaign_release_download",
    ),
    path(
        "campaigns/<slug:slug>/releases/<int:version>/files/<path:path>",
        views.release_file,
        name="campaign_release_file",
    ),
    # Links from before, with a "v": redirected.
    path("campaigns/<slug:slug>/releases/v<int:version>/download/", views.release_legacy),
    path("campaigns/<slug:slug>/releases/v<int:version>/files/<path:path>", views.release_legacy),
]

urlpatterns = api + pages
