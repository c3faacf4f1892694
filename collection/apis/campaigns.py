"""Campaigns: list, create with targets, read, change, open/pause/close, progress."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from collection import kinds, selectors, services
from collection.apis.common import ListAPIView, managed_campaign, paginate
from collection.models import AdaptiveOverlap, Campaign
from collection.permissions import audiences_visible_to, is_researcher


class TargetSerializer(serializers.Serializer):
    audience = serializers.SlugField()
    overlap_k = serializers.IntegerField(min_value=1, max_value=1000)
    quota_release_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="Public audiences with targets: from then on each group's quota no longer "
        "holds (for a group that never arrives); omit to keep the current one.",
    )


class AdaptiveSerializer(serializers.Serializer):
    """Adaptive overlap: more judgements, up to ``max_k`` per audience, for items whose
    audiences diverge (or whose audience is split), once every target's base k is filled."""

    max_k = serializers.IntegerField(min_value=2, max_value=1000)
    step = serializers.IntegerField(min_value=1, max_value=100, default=2)
    rule = serializers.ChoiceField(
        choices=AdaptiveOverlap.Rule.choices, default=AdaptiveOverlap.Rule.DIVERGENCE
    )
    jsd_threshold = serializers.FloatField(
        min_value=0.0, max_value=1.0, default=AdaptiveOverlap.DEFAULT_JSD_THRESHOLD
    )
    entropy_threshold = serializers.FloatField(
        min_value=0.0, max_value=1.0, default=AdaptiveOverlap.DEFAULT_ENTROPY_THRESHOLD
    )


def _adaptive_out(campaign: Campaign) -> dict | None:
    try:
        setting = campaign.adaptive  # loaded with the list (`campaign_list`)
    except AdaptiveOverlap.DoesNotExist:
        return None
    return {name: getattr(setting, name) for name in AdaptiveSerializer().fields}


CAMPAIGN_FIELDS = ["name", *services.CAMPAIGN_SETTINGS]


class CampaignOutputSerializer(serializers.ModelSerializer):
    owners = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)
    targets = serializers.SerializerMethodField()
    adaptive = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "slug",
            "item_kind",
            "owners",
            *CAMPAIGN_FIELDS,
            "status",
            "targets",
            "adaptive",
            "created_at",
            "opened_at",
            "closed_at",
        ]

    def get_targets(self, campaign) -> list[dict]:
        return [
            {
                "audience": target.audience.slug,
                "overlap_k": target.overlap_k,
                "quota_release_at": target.quota_release_at,
            }
            for target in selectors.campaign_targets(campaign=campaign)
        ]

    @extend_schema_field(AdaptiveSerializer(allow_null=True))
    def get_adaptive(self, campaign) -> dict | None:
        return _adaptive_out(campaign)


class CampaignInputSerializer(serializers.ModelSerializer):
    targets = TargetSerializer(many=True, required=False)
    adaptive = AdaptiveSerializer(required=False, allow_null=True)

    class Meta:
        model = Campaign
        fields = ["slug", "item_kind", *CAMPAIGN_FIELDS, "targets", "adaptive"]
        extra_kwargs = {"slug": {"validators": []}, "competence": {"required": False}}


CAMPAIGN_EXAMPLE = {
    "slug": "advice-pairs",
    "name": "Everyday advice",
    "item_kind": "preference",
    "preference_format": "choice",
    "transience": "semantic",
    "rating_min": 1,
    "rating_max": 7,
    "instructions": "Pick the answer you would rather receive.",
    "targets": [
        {"audience": "everyone", "overlap_k": 3},
        {"audience": "uk-adults", "overlap_k": 5},
    ],
    "adaptive": {"max_k": 9, "rule": "divergence", "jsd_threshold": 0.2},
}


def _adaptive(fields: dict, campaign: Campaign | None = None):
    """The setting asked for: `KEEP` when not given, None to turn it off. A change names
    only what changes (a PATCH); the rest is the campaign's current setting."""
    if "adaptive" not in fields:
        return services.KEEP
    given = fields.pop("adaptive")
    if given is None:
        return None
    current = _adaptive_out(campaign) if campaign is not None else None
    merged = (current or {}) | dict(given)
    if "max_k" not in merged:
        raise services.ServiceError("Give the maximum k.", field="adaptive.max_k")
    return services.AdaptiveSetting(**merged)


def _targets(request, targets: list[dict]) -> list[services.CampaignTarget]:
    visible = audiences_visible_to(request.user)
    result = []
    for n, target in enumerate(targets):
        audience = visible.filter(slug=target["audience"]).first()
        if audience is None:
            raise services.ServiceError(
                f"No audience {target['audience']!r}.", field=f"targets.{n}.audience"
            )
        result.append(
            services.CampaignTarget(
                audience=audience,
                overlap_k=target["overlap_k"],
                quota_release_at=target.get("quota_release_at", services.KEEP),
            )
        )
    return result


class CampaignListApi(ListAPIView):
    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=Campaign.Status.choices, required=False)
        item_kind = serializers.ChoiceField(choices=kinds.choices(), required=False)

    @extend_schema(
        responses=CampaignOutputSerializer(many=True),
        summary="Campaigns: the ones you run (researchers) or can annotate (annotators)",
        parameters=[
            OpenApiParameter("status", str, enum=Campaign.Status.values),
            OpenApiParameter("item_kind", str, enum=[name for name, _ in kinds.choices()]),
        ],
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        campaigns = selectors.campaign_list(user=request.user, filters=filters.validated_data)
        return paginate(self, request, campaigns, CampaignOutputSerializer)


class CampaignCreateApi(APIView):
    @extend_schema(
        request=CampaignInputSerializer,
        responses={201: CampaignOutputSerializer},
        summary="Create a draft campaign (researchers)",
        examples=[OpenApiExample("Preference campaign", value=CAMPAIGN_EXAMPLE, request_only=True)],
    )
    def post(self, request):
        if not is_researcher(request.user):
            raise PermissionDenied("Only researchers may create campaigns.")
        data = CampaignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        targets = _targets(request, fields.pop("targets", []))
        adaptive = _adaptive(fields)
        campaign = services.campaign_create(
            owners=[request.user],
            targets=targets,
            adaptive=None if adaptive is services.KEEP else adaptive,
            **fields,
        )
        return ApiResponse(CampaignOutputSerializer(campaign).data, status=201)


class CampaignDetailApi(APIView):
    @extend_schema(responses=CampaignOutputSerializer, summary="One campaign")
    def get(self, request, slug: str):
        return ApiResponse(CampaignOutputSerializer(managed_campaign(request, slug)).data)


class CampaignUpdateApi(APIView):
    @extend_schema(
        request=CampaignInputSerializer(partial=True),
        responses=CampaignOutputSerializer,
        summary="Change a campaign; targets given here replace the listed ones' k",
    )
    def patch(self, request, slug: str):
        campaign = managed_campaign(request, slug)
        data = CampaignInputSerializer(campaign, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        for frozen in ("slug", "item_kind"):
            if frozen in fields and fields[frozen] != getattr(campaign, frozen):
                raise services.ServiceError("Cannot be changed after creation.", field=frozen)
            fields.pop(frozen, None)
        targets = _targets(request, fields.pop("targets", []))
        adaptive = _adaptive(fields, campaign)
        services.campaign_update(
            campaign=campaign, fields=fields, targets=targets, adaptive=adaptive
        )
        return ApiResponse(CampaignOutputSerializer(campaign).data)


class CampaignStatusApi(APIView):
    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(
            choices=[Campaign.Status.OPEN, Campaign.Status.PAUSED, Campaign.Status.CLOSED]
        )

    @extend_schema(
        request=InputSerializer,
        responses=CampaignOutputSerializer,
        summary="Open, pause or close a campaign",
        examples=[OpenApiExample("Open", value={"status": "open"}, request_only=True)],
    )
    def post(self, request, slug: str):
        campaign = managed_campaign(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.campaign_set_status(campaign=campaign, status=data.validated_data["status"])
        return ApiResponse(CampaignOutputSerializer(campaign).data)


class CampaignProgressApi(APIView):
    class AudienceProgressSerializer(serializers.Serializer):
        audience = serializers.CharField()
        overlap_k = serializers.IntegerField()
        items = serializers.IntegerField()
        slots = serializers.IntegerField()
        responses = serializers.IntegerField()
        live_leases = serializers.IntegerField()
        items_at_k = serializers.IntegerField()
        participants = serializers.IntegerField()
        fill = serializers.FloatField()

    class OutputSerializer(serializers.Serializer):
        campaign = serializers.CharField()
        status = serializers.CharField()
        items = serializers.IntegerField()
        audiences = serializers.ListField(child=serializers.DictField())

    @extend_schema(responses=OutputSerializer, summary="Progress per target audience")
    def get(self, request, slug: str):
        campaign = managed_campaign(request, slug)
        progress = selectors.campaign_progress(campaign=campaign)
        return ApiResponse(
            self.OutputSerializer(
                {
                    "campaign": campaign.slug,
                    "status": campaign.status,
                    "items": progress["items"],
                    "audiences": [
                        self.AudienceProgressSerializer(row).data for row in progress["audiences"]
                    ],
                }
            ).data
        )
