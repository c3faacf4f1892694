"""Audiences: list, define, read one, set a public audience's target marginals."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from collection import selectors, services
from collection.apis.common import ListAPIView, paginate
from collection.models import Audience
from collection.permissions import audiences_managed_by, audiences_visible_to, is_researcher


class AudienceOutputSerializer(serializers.ModelSerializer):
    members = serializers.IntegerField(read_only=True, source="member_count")

    class Meta:
        model = Audience
        fields = [
            "slug",
            "name",
            "kind",
            "description",
            "attribute_schema",
            "target_marginals",
            "screened",
            "max_members",
            "members",
            "created_at",
        ]


AUDIENCE_EXAMPLE = {
    "slug": "uk-adults",
    "name": "UK adults",
    "kind": "public",
    "attribute_schema": [
        {"name": "age_band", "label": "Age band", "choices": ["18-29", "30-44", "45-64", "65+"]}
    ],
    "target_marginals": {"age_band": {"18-29": 0.2, "30-44": 0.25, "45-64": 0.33, "65+": 0.22}},
}


class AudienceListApi(ListAPIView):
    class FilterSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=Audience.Kind.choices, required=False)

    @extend_schema(
        responses=AudienceOutputSerializer(many=True),
        summary="Audiences you can see",
        parameters=[
            OpenApiParameter(
                "kind", str, enum=Audience.Kind.values, description="Only audiences of this kind."
            )
        ],
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        audiences = selectors.audience_list(user=request.user, filters=filters.validated_data)
        return paginate(self, request, audiences, AudienceOutputSerializer)


class AudienceCreateApi(APIView):
    # The component name from before list and create were split, so generated clients
    # keep their type names.
    @extend_schema_serializer(component_name="AudienceListCreateInput")
    class InputSerializer(serializers.Serializer):
        slug = serializers.SlugField(max_length=64)
        name = serializers.CharField(max_length=200)
        kind = serializers.ChoiceField(choices=Audience.Kind.choices)
        description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
        attribute_schema = serializers.JSONField(required=False)
        target_marginals = serializers.JSONField(required=False)
        screened = serializers.BooleanField(required=False, default=False)
        max_members = serializers.IntegerField(
            required=False, min_value=1, max_value=100_000, allow_null=True
        )

    @extend_schema(
        request=InputSerializer,
        responses={201: AudienceOutputSerializer},
        summary="Define an audience (researchers)",
        examples=[OpenApiExample("Public audience", value=AUDIENCE_EXAMPLE, request_only=True)],
    )
    def post(self, request):
        if not is_researcher(request.user):
            raise PermissionDenied("Only researchers may define audiences.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        audience = services.audience_create(created_by=request.user, **data.validated_data)
        audience.member_count = 0
        return ApiResponse(AudienceOutputSerializer(audience).data, status=201)


class AudienceDetailApi(APIView):
    @extend_schema(responses=AudienceOutputSerializer, summary="One audience")
    def get(self, request, slug: str):
        audience = get_object_or_404(
            selectors.audiences_with_counts(audiences_visible_to(request.user)), slug=slug
        )
        return ApiResponse(AudienceOutputSerializer(audience).data)


class AudienceTargetsApi(APIView):
    class InputSerializer(serializers.Serializer):
        target_marginals = serializers.JSONField()

    @extend_schema(
        request=InputSerializer,
        responses=AudienceOutputSerializer,
        summary="Set a public audience's target marginals",
        examples=[
            OpenApiExample(
                "Census shares",
                request_only=True,
                value={"target_marginals": AUDIENCE_EXAMPLE["target_marginals"]},
            )
        ],
    )
    def put(self, request, slug: str):
        audience = get_object_or_404(audiences_managed_by(request.user), slug=slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.audience_set_targets(
            audience=audience, target_marginals=data.validated_data["target_marginals"]
        )
        audience = selectors.audiences_with_counts(Audience.objects.filter(pk=audience.pk)).get()
        return ApiResponse(AudienceOutputSerializer(audience).data)
