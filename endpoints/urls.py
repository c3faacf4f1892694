from django.urls import include, path

from endpoints import views

urlpatterns = [
    path("endpoints/", views.endpoint_list, name="endpoint_list"),
    path("endpoints/<int:endpoint_id>/test/", views.endpoint_test, name="endpoint_test"),
    path("", include("endpoints.conversations.urls")),
]
