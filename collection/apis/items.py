"""A campaign's items, and one item (researchers)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from collection import selectors
from collection.apis.common import ListAPIView, managed_campaign, paginate
from collection.models import Item
from collection.permissions import campaigns_managed_by


class ItemOutputSerializer(serializers.ModelSerializer):
    campaign = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Item
        fields = [
            "id",
            "campaign",
            "external_id",
            "prompt",
            "context",
            "payload",
            "is_attention_check",
            "expected",
            "created_at",
        ]


class CampaignItemsApi(ListAPIView):
    @extend_schema(
        responses=ItemOutputSerializer(many=True),
        summary="A campaign's items",
        parameters=[
            OpenApiParameter("attention_check", bool),
            OpenApiParameter("external_id", str),
        ],
    )
    def get(self, request, slug: str):
        campaign = managed_campaign(request, slug)
        items = selectors.item_list(campaign=campaign, filters=request.query_params)
        return paginate(self, request, items, ItemOutputSerializer)


class ItemDetailApi(APIView):
    @extend_schema(responses=ItemOutputSerializer, summary="One item")
    def get(self, request, item_id: int):
        item = get_object_or_404(
            Item.objects.select_related("campaign").filter(
                campaign__in=campaigns_managed_by(request.user)
            ),
            pk=item_id,
        )
        return ApiResponse(ItemOutputSerializer(item).data)
