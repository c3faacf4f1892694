"""Who is asking: the caller and their roles."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from collection.permissions import is_admin, is_researcher


class MeApi(APIView):
    class OutputSerializer(serializers.Serializer):
        username = serializers.CharField()
        is_researcher = serializers.BooleanField()
        is_admin = serializers.BooleanField()
        participant_id = serializers.IntegerField(allow_null=True)
        audiences = serializers.ListField(child=serializers.CharField())

    @extend_schema(responses=OutputSerializer, summary="The caller and their roles")
    def get(self, request):
        participant = getattr(request.user, "participant", None)
        audiences = (
            list(participant.memberships.values_list("audience__slug", flat=True))
            if participant
            else []
        )
        return ApiResponse(
            self.OutputSerializer(
                {
                    "username": request.user.get_username(),
                    "is_researcher": is_researcher(request.user),
                    "is_admin": is_admin(request.user),
                    "participant_id": participant.pk if participant else None,
                    "audiences": audiences,
                }
            ).data
        )
