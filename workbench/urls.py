from django.urls import path

from workbench import audiences, campaigns, flags, generation, imports, items, landing, reviews

app_name = "workbench"

urlpatterns = [
    path("", landing.landing, name="landing"),
    path("audiences/", audiences.audience_list, name="audience_list"),
    path("audiences/new/", audiences.audience_create, name="audience_create"),
    path("audiences/<slug:slug>/", audiences.audience_detail, name="audience_detail"),
    path(
        "audiences/<slug:slug>/invitations/",
        audiences.invitation_create,
        name="invitation_create",
    ),
    path(
        "audiences/<slug:slug>/invitations/<int:invitation_id>/revoke/",
        audiences.invitation_revoke,
        name="invitation_revoke",
    ),
    path("campaigns/new/", campaigns.campaign_create, name="campaign_create"),
    path("campaigns/<slug:slug>/edit/", campaigns.campaign_edit, name="campaign_edit"),
    path("campaigns/<slug:slug>/status/", campaigns.campaign_status, name="campaign_status"),
    path(
        "campaigns/<slug:slug>/audiences/<slug:audience_slug>/release-quotas/",
        campaigns.campaign_release_quotas,
        name="campaign_release_quotas",
    ),
    path(
        "campaigns/<slug:slug>/duplicate/", campaigns.campaign_duplicate, name="campaign_duplicate"
    ),
    path("campaigns/<slug:slug>/import/", imports.item_import, name="item_import"),
    path("campaigns/<slug:slug>/generate/", generation.generation, name="generation"),
    path("campaigns/<slug:slug>/items/", items.item_list, name="item_list"),
    path("campaigns/<slug:slug>/items/<int:item_id>/", items.item_detail, name="item_detail"),
    path(
        "campaigns/<slug:slug>/people/<slug:audience_slug>/<str:name>/",
        items.participant_detail,
        name="participant_detail",
    ),
    path("campaigns/<slug:slug>/flags/", flags.flag_queue, name="flag_queue"),
    path("campaigns/<slug:slug>/flags/<int:item_id>/", flags.flag_resolve, name="flag_resolve"),
    path("campaigns/<slug:slug>/reviews/", reviews.review_queue, name="review_queue"),
    path(
        "campaigns/<slug:slug>/reviews/<int:response_id>/",
        reviews.review_submit,
        name="review_submit",
    ),
]
