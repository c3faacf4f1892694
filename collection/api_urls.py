from django.urls import path

from collection.apis import (
    annotating,
    audiences,
    campaigns,
    imports,
    items,
    me,
    memberships,
    responses,
    tokens,
)
from collection.apis.common import one_path

urlpatterns = [
    path("me/", me.MeApi.as_view(), name="api-me"),
    path(
        "tokens/",
        one_path(tokens.TokenListApi, tokens.TokenCreateApi).as_view(),
        name="api-tokens",
    ),
    path("tokens/<int:token_id>/", tokens.TokenRevokeApi.as_view(), name="api-token"),
    path(
        "audiences/",
        one_path(audiences.AudienceListApi, audiences.AudienceCreateApi).as_view(),
        name="api-audiences",
    ),
    path("audiences/<slug:slug>/", audiences.AudienceDetailApi.as_view(), name="api-audience"),
    path(
        "audiences/<slug:slug>/targets/",
        audiences.AudienceTargetsApi.as_view(),
        name="api-audience-targets",
    ),
    path(
        "audiences/<slug:slug>/invitations/",
        one_path(memberships.InvitationListApi, memberships.InvitationCreateApi).as_view(),
        name="api-audience-invitations",
    ),
    path(
        "audiences/<slug:slug>/members/",
        memberships.AudienceMembersApi.as_view(),
        name="api-audience-members",
    ),
    path(
        "audiences/<slug:slug>/join/",
        memberships.AudienceJoinApi.as_view(),
        name="api-audience-join",
    ),
    path(
        "audiences/<slug:slug>/profile/",
        memberships.AudienceProfileApi.as_view(),
        name="api-audience-profile",
    ),
    path(
        "campaigns/",
        one_path(campaigns.CampaignListApi, campaigns.CampaignCreateApi).as_view(),
        name="api-campaigns",
    ),
    path(
        "campaigns/<slug:slug>/",
        one_path(campaigns.CampaignDetailApi, campaigns.CampaignUpdateApi).as_view(),
        name="api-campaign",
    ),
    path(
        "campaigns/<slug:slug>/status/",
        campaigns.CampaignStatusApi.as_view(),
        name="api-campaign-status",
    ),
    path(
        "campaigns/<slug:slug>/progress/",
        campaigns.CampaignProgressApi.as_view(),
        name="api-campaign-progress",
    ),
    path("campaigns/<slug:slug>/items/", items.CampaignItemsApi.as_view(), name="api-items"),
    path(
        "campaigns/<slug:slug>/items/import/",
        imports.ItemImportApi.as_view(),
        name="api-items-import",
    ),
    path("campaigns/<slug:slug>/consent/", annotating.ConsentApi.as_view(), name="api-consent"),
    path("campaigns/<slug:slug>/next/", annotating.NextItemApi.as_view(), name="api-next"),
    path("items/<int:item_id>/", items.ItemDetailApi.as_view(), name="api-item"),
    path(
        "assignments/<int:assignment_id>/submit/",
        annotating.SubmitApi.as_view(),
        name="api-submit",
    ),
    path("assignments/<int:assignment_id>/skip/", annotating.SkipApi.as_view(), name="api-skip"),
    path("responses/", responses.ResponseListApi.as_view(), name="api-responses"),
    path(
        "responses/<int:response_id>/",
        responses.ResponseEditApi.as_view(),
        name="api-response-edit",
    ),
    path("withdrawals/", responses.WithdrawalApi.as_view(), name="api-withdrawals"),
]
