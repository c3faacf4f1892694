"""Importing items from a file into a campaign, all or nothing."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from collection import imports
from collection.api_input import CheckedJSONParser
from collection.apis.common import managed_campaign


class ItemImportApi(APIView):
    parser_classes = [MultiPartParser, FormParser, CheckedJSONParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(help_text="JSONL, CSV or HH-RLHF JSONL, UTF-8.")
        format = serializers.ChoiceField(choices=imports.FORMATS, default="jsonl")
        prompts_only = serializers.BooleanField(
            default=False,
            help_text="Preference items may come without candidates, for a generation job "
            "to fill; they are served once they have two.",
        )

    class OutputSerializer(serializers.Serializer):
        created = serializers.IntegerField()
        campaign = serializers.CharField()
        format = serializers.CharField()

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={201: OutputSerializer},
        summary="Import items from a file, all or nothing",
    )
    def post(self, request, slug: str):
        campaign = managed_campaign(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        upload.seek(0)
        result = imports.items_import(
            campaign=campaign,
            stream=upload.file,
            file_format=data.validated_data["format"],
            prompts_only=data.validated_data["prompts_only"],
        )
        return ApiResponse(self.OutputSerializer(result).data, status=201)
