"""Responses (one's own, or a researcher's campaigns') and withdrawal."""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from collection import kinds, selectors, services
from collection.apis.annotating import annotator_campaign
from collection.apis.common import ListAPIView, known_slug, paginate, participant_of
from collection.models import Campaign, Response
from collection.permissions import audiences_visible_to, campaigns_managed_by


class ResponseOutputSerializer(serializers.ModelSerializer):
    campaign = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    audience = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    kind = serializers.CharField(source="campaign.item_kind", read_only=True)

    class Meta:
        model = Response
        fields = [
            "id",
            "campaign",
            "audience",
            "kind",
            "item",
            "participant",
            "payload",
            "time_on_task_ms",
            "attention_passed",
            "created_at",
            "withdrawn_at",
        ]


class ResponseListApi(ListAPIView):
    class FilterSerializer(serializers.Serializer):
        campaign = serializers.SlugField(required=False)
        audience = serializers.SlugField(required=False)
        kind = serializers.ChoiceField(choices=kinds.choices(), required=False)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)
        include_withdrawn = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        responses=ResponseOutputSerializer(many=True),
        summary="Responses: your own, or (researchers) those of your campaigns",
        parameters=[
            OpenApiParameter("campaign", str, description="Campaign slug."),
            OpenApiParameter("audience", str, description="Audience slug."),
            OpenApiParameter("kind", str, enum=[name for name, _ in kinds.choices()]),
            OpenApiParameter(
                "since", OpenApiTypes.DATETIME, description="Created at or after (ISO 8601)."
            ),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="Created before."),
            OpenApiParameter("include_withdrawn", bool, description="Default false."),
        ],
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        wanted = filters.validated_data
        if "campaign" in wanted:
            asked_about = Campaign.objects.filter(
                Q(pk__in=campaigns_managed_by(request.user))
                | Q(responses__participant__user=request.user)
            )
            known_slug(asked_about, wanted["campaign"], field="campaign", what="campaign")
        if "audience" in wanted:
            audiences = audiences_visible_to(request.user)
            known_slug(audiences, wanted["audience"], field="audience", what="audience")
        responses = selectors.response_list(user=request.user, filters=wanted)
        return paginate(self, request, responses, ResponseOutputSerializer)


class ResponseEditApi(APIView):
    """PATCH: change your last answer in a campaign while the item is still yours (within
    its lease; `collection.services.edits`)."""

    class InputSerializer(serializers.Serializer):
        payload = serializers.JSONField(help_text="The new answer, as at submission.")

    @extend_schema(
        request=InputSerializer,
        responses={200: ResponseOutputSerializer},
        summary="Change your last answer (while the item is still yours)",
    )
    def patch(self, request, response_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        response = services.response_edit(
            participant=participant_of(request),
            response_id=response_id,
            payload=data.validated_data["payload"],
        )
        return ApiResponse(ResponseOutputSerializer(response).data)


class WithdrawalApi(APIView):
    class InputSerializer(serializers.Serializer):
        campaign = serializers.SlugField(
            required=False, allow_null=True, help_text="Leave out to withdraw from the platform."
        )

    class OutputSerializer(serializers.Serializer):
        campaign = serializers.CharField(allow_null=True)
        responses_withdrawn = serializers.IntegerField()
        created_at = serializers.DateTimeField()

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, 200: OutputSerializer},
        summary="Withdraw from a campaign or from the whole platform (again: 200, no change)",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        participant = participant_of(request)
        campaign = None
        if data.validated_data.get("campaign"):
            campaign = annotator_campaign(request, data.validated_data["campaign"])
        withdrawal, created = services.participant_withdraw(
            participant=participant, campaign=campaign
        )
        return ApiResponse(
            self.OutputSerializer(
                {
                    "campaign": withdrawal.campaign.slug if withdrawal.campaign_id else None,
                    "responses_withdrawn": withdrawal.responses_withdrawn,
                    "created_at": withdrawal.created_at,
                }
            ).data,
            status=201 if created else 200,
        )
