from django.urls import path

from endpoints import apis
from endpoints.conversations import apis as conversation_apis

urlpatterns = [
    path("endpoints/", apis.EndpointListCreateApi.as_view(), name="api-endpoints"),
    path("endpoints/<int:endpoint_id>/", apis.EndpointDetailApi.as_view(), name="api-endpoint"),
    path(
        "endpoints/<int:endpoint_id>/test/",
        apis.EndpointTestApi.as_view(),
        name="api-endpoint-test",
    ),
    path("generation-jobs/", apis.GenerationJobListCreateApi.as_view(), name="api-generation-jobs"),
    path(
        "generation-jobs/<int:job_id>/",
        apis.GenerationJobDetailApi.as_view(),
        name="api-generation-job",
    ),
    path(
        "generation-jobs/<int:job_id>/resume/",
        apis.GenerationJobResumeApi.as_view(),
        name="api-generation-job-resume",
    ),
    path(
        "campaigns/<slug:slug>/conversation-settings/",
        conversation_apis.ConversationSettingsApi.as_view(),
        name="api-conversation-settings",
    ),
    path(
        "campaigns/<slug:slug>/conversations/",
        conversation_apis.ConversationListApi.as_view(),
        name="api-conversations",
    ),
]
