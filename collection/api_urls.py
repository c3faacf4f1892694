from django.urls import path

from collection import apis

urlpatterns = [
    path("me/", apis.MeApi.as_view(), name="api-me"),
    path("tokens/", apis.TokenListCreateApi.as_view(), name="api-tokens"),
    path("tokens/<int:token_id>/", apis.TokenRevokeApi.as_view(), name="api-token"),
    path("audiences/", apis.AudienceListCreateApi.as_view(), name="api-audiences"),
    path("audiences/<slug:slug>/", apis.AudienceDetailApi.as_view(), name="api-audience"),
    path(
        "audiences/<slug:slug>/targets/",
        apis.AudienceTargetsApi.as_view(),
        name="api-audience-targets",
    ),
    path(
        "audiences/<slug:slug>/invitations/",
        apis.InvitationListCreateApi.as_view(),
        name="api-audience-invitations",
    ),
    path(
        "audiences/<slug:slug>/members/",
        apis.AudienceMembersApi.as_view(),
        name="api-audience-members",
    ),
    path("audiences/<slug:slug>/join/", apis.AudienceJoinApi.as_view(), name="api-audience-join"),
    path(
        "audiences/<slug:slug>/profile/",
        apis.AudienceProfileApi.as_view(),
        name="api-audience-profile",
    ),
    path("campaigns/", apis.CampaignListCreateApi.as_view(), name="api-campaigns"),
    path("campaigns/<slug:slug>/", apis.CampaignDetailApi.as_view(), name="api-campaign"),
    path(
        "campaigns/<slug:slug>/status/",
        apis.CampaignStatusApi.as_view(),
        name="api-campaign-status",
    ),
    path(
        "campaigns/<slug:slug>/progress/",
        apis.CampaignProgressApi.as_view(),
        name="api-campaign-progress",
    ),
    path("campaigns/<slug:slug>/items/", apis.CampaignItemsApi.as_view(), name="api-items"),
    path(
        "campaigns/<slug:slug>/items/import/", apis.ItemImportApi.as_view(), name="api-items-import"
    ),
    path("campaigns/<slug:slug>/consent/", apis.ConsentApi.as_view(), name="api-consent"),
    path("campaigns/<slug:slug>/next/", apis.NextItemApi.as_view(), name="api-next"),
    path("items/<int:item_id>/", apis.ItemDetailApi.as_view(), name="api-item"),
    path("assignments/<int:assignment_id>/submit/", apis.SubmitApi.as_view(), name="api-submit"),
    path("assignments/<int:assignment_id>/skip/", apis.SkipApi.as_view(), name="api-skip"),
    path("responses/", apis.ResponseListApi.as_view(), name="api-responses"),
    path("withdrawals/", apis.WithdrawalApi.as_view(), name="api-withdrawals"),
]
