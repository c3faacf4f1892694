"""API tokens: list, create (the key is shown once), revoke."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response as ApiResponse
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from collection import selectors, services
from collection.apis.common import ListAPIView, paginate
from collection.models import ApiToken
from collection.throttles import TokenCreateThrottle


class TokenOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at"]


class TokenListApi(ListAPIView):
    @extend_schema(responses=TokenOutputSerializer(many=True), summary="Your API tokens")
    def get(self, request):
        return paginate(
            self, request, selectors.api_token_list(user=request.user), TokenOutputSerializer
        )


class TokenCreateApi(APIView):
    throttle_classes = [*api_settings.DEFAULT_THROTTLE_CLASSES, TokenCreateThrottle]

    # Component names from before list and create were split, so generated clients
    # keep their type names.
    @extend_schema_serializer(component_name="TokenListCreateInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)

    @extend_schema_serializer(component_name="TokenListCreateCreated")
    class CreatedSerializer(TokenOutputSerializer):
        key = serializers.CharField(help_text="Shown once; store it now.")

        class Meta(TokenOutputSerializer.Meta):
            fields = [*TokenOutputSerializer.Meta.fields, "key"]

    @extend_schema(
        request=InputSerializer,
        responses={201: CreatedSerializer},
        summary="Create an API token (the key is shown once)",
        examples=[
            OpenApiExample("Notebook", value={"name": "analysis notebook"}, request_only=True)
        ],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, key = services.api_token_create(user=request.user, name=data.validated_data["name"])
        token.key = key
        return ApiResponse(self.CreatedSerializer(token).data, status=201)


class TokenRevokeApi(APIView):
    @extend_schema(responses={204: None}, summary="Revoke one of your tokens")
    def delete(self, request, token_id: int):
        services.api_token_revoke(user=request.user, token_id=token_id)
        return ApiResponse(status=204)
