"""REST API for a conversation campaign's settings and its conversations (researchers).

Campaigns a caller does not manage answer 404 (`collection.apis.common.managed_campaign`,
the one campaign rule). Conversations are listed as the researcher's page shows them,
with each reply's endpoint, latency and tokens; deleted ones are nobody's to list.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from collection.apis.common import ListAPIView, managed_campaign, paginate
from collection.models import Campaign, Conversation, ConversationSettings
from collection.models.conversations import MAX_REPLIES, MAX_TURN_LIMIT, MIN_REPLIES
from collection.permissions import IsResearcher
from endpoints.conversations import selectors, services


# This package is the conversation kind's own pages and turns, so it names that kind.
def _conversation_campaign(request, slug: str) -> Campaign:
    campaign = managed_campaign(request, slug)
    if campaign.item_kind != Campaign.ItemKind.CONVERSATION:
        raise Http404("Not a conversation campaign.")
    return campaign


class SettingsOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConversationSettings
        fields = [
            "endpoint_ids",
            "replies_per_turn",
            "turn_limit",
            "arena",
            "max_calls_in_flight",
            "token_budget",
            "tokens_used",
            "paused_reason",
        ]


class ConversationSettingsApi(APIView):
    permission_classes = [IsResearcher]

    class InputSerializer(serializers.Serializer):
        endpoint_ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
            min_length=2,
            max_length=64,
            help_text="Your model endpoints' ids (at least two).",
        )
        replies_per_turn = serializers.IntegerField(
            default=2, min_value=MIN_REPLIES, max_value=MAX_REPLIES
        )
        turn_limit = serializers.IntegerField(default=5, min_value=1, max_value=MAX_TURN_LIMIT)
        arena = serializers.BooleanField(default=False)
        max_calls_in_flight = serializers.IntegerField(default=8, min_value=1, max_value=256)
        token_budget = serializers.IntegerField(
            required=False, allow_null=True, default=None, min_value=1, max_value=10**15
        )

    @extend_schema(responses=SettingsOutputSerializer, summary="A conversation campaign's settings")
    def get(self, request, slug: str):
        setup = selectors.settings_for(campaign=_conversation_campaign(request, slug))
        if setup is None:
            raise Http404("This campaign's conversations are not set up yet.")
        return ApiResponse(SettingsOutputSerializer(setup).data)

    @extend_schema(
        request=InputSerializer,
        responses=SettingsOutputSerializer,
        summary="Set a conversation campaign's endpoints, turn limit, arena mode and limits",
    )
    def put(self, request, slug: str):
        campaign = _conversation_campaign(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        setup = services.conversation_settings_save(
            campaign=campaign, user=request.user, **data.validated_data
        )
        return ApiResponse(SettingsOutputSerializer(setup).data)


class TurnOutputSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    history = serializers.ListField(child=serializers.DictField())
    message = serializers.CharField()
    replies = serializers.ListField(child=serializers.DictField())
    shown = serializers.ListField(child=serializers.CharField())
    judgement = serializers.DictField()
    chosen = serializers.CharField()
    rationale = serializers.CharField()
    edited_text = serializers.CharField()
    created_at = serializers.DateTimeField()


class ConversationOutputSerializer(serializers.ModelSerializer):
    audience = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    item = serializers.PrimaryKeyRelatedField(read_only=True)
    turns = TurnOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "audience",
            "item",
            "arena",
            "endpoint_ids",
            "status",
            "closing_rating",
            "closing_comment",
            "ended_by",
            "created_at",
            "closed_at",
            "withdrawn_at",
            "turns",
        ]


class ConversationListApi(ListAPIView):
    permission_classes = [IsResearcher]

    @extend_schema(
        responses=ConversationOutputSerializer(many=True),
        summary="A conversation campaign's conversations, with every turn",
    )
    def get(self, request, slug: str):
        campaign = _conversation_campaign(request, slug)
        conversations = selectors.conversations_of_campaign(
            user=request.user, campaign=campaign
        ).prefetch_related("turns")
        return paginate(self, request, conversations, ConversationOutputSerializer)
