from django.urls import path

from panels import apis

urlpatterns = [
    path("panel-studies/", apis.StudyListCreateApi.as_view(), name="api-panel-studies"),
    path("panel-studies/<int:study_id>/", apis.StudyDetailApi.as_view(), name="api-panel-study"),
]
