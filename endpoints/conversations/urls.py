from django.urls import path

from endpoints.conversations import views

urlpatterns = [
    path("campaigns/<slug:slug>/chat/", views.conversation_page, name="conversation_page"),
    path("campaigns/<slug:slug>/chat/start/", views.conversation_start, name="conversation_start"),
    path("campaigns/<slug:slug>/chat/ask/", views.conversation_ask, name="conversation_ask"),
    path("campaigns/<slug:slug>/chat/judge/", views.conversation_judge, name="conversation_judge"),
    path(
        "campaigns/<slug:slug>/chat/discard/",
        views.conversation_discard,
        name="conversation_discard",
    ),
    path("campaigns/<slug:slug>/chat/end/", views.conversation_end, name="conversation_end"),
    path("campaigns/<slug:slug>/chat/skip/", views.conversation_skip, name="conversation_skip"),
    path(
        "campaigns/<slug:slug>/conversations/",
        views.campaign_conversations,
        name="campaign_conversations",
    ),
    path("conversations/", views.my_conversations, name="my_conversations"),
    path(
        "conversations/<int:conversation_id>/",
        views.conversation_detail,
        name="conversation_detail",
    ),
    path(
        "conversations/<int:conversation_id>/delete/",
        views.conversation_delete,
        name="conversation_delete",
    ),
]
