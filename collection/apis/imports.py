"""Importing items from a file into a campaign: all or nothing, or keep the valid rows."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from collection import imports
from collection.api_input import CheckedJSONParser
from collection.apis.common import managed_campaign


class RejectedSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="The file line (or Parquet/Arrow row), from 1.")
    unit = serializers.CharField(help_text='"Line" or "Row".')
    field = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class ShapesSerializer(serializers.Serializer):
    multi_turn_items = serializers.IntegerField(
        help_text="Items with a candidate of several turns (the two conversations part "
        "before the last turn)."
    )
    empty_replies = serializers.IntegerField(help_text="Candidates whose text is empty.")
    leading_space_items = serializers.IntegerField(
        help_text="Items with a text that begins with a space (kept byte for byte)."
    )


class ItemImportApi(APIView):
    parser_classes = [MultiPartParser, FormParser, CheckedJSONParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(
            help_text="JSONL, CSV, HH-RLHF JSONL or prompt/chosen/rejected pairs (JSONL, "
            "Parquet, Arrow, or a .zip or .tar.gz of a folder datasets' save_to_disk "
            "or to_parquet wrote); text formats UTF-8, plain or gzipped."
        )
        format = serializers.ChoiceField(
            choices=imports.FORMATS,
            default="auto",
            help_text="The shape of a row; auto tells them apart from the first row.",
        )
        mode = serializers.ChoiceField(
            choices=imports.MODES,
            default="all",
            help_text="all: every item or none. keep_valid: store the valid rows and list "
            "each rejected one with its line and reason.",
        )
        prompts_only = serializers.BooleanField(
            default=False,
            help_text="Preference items may come without candidates, for a generation job "
            "to fill; they are served once they have two.",
        )

    class OutputSerializer(serializers.Serializer):
        created = serializers.IntegerField()
        campaign = serializers.CharField()
        format = serializers.CharField(help_text="The row shape read (never auto).")
        mode = serializers.CharField()
        rows_read = serializers.IntegerField(help_text="Rows stored plus rows rejected.")
        unit = serializers.CharField(help_text='What rows_read counts: "Line" or "Row".')
        shapes = ShapesSerializer(help_text="What the stored items hold, counted.")
        rejected_count = serializers.IntegerField()
        rejected = RejectedSerializer(
            many=True, help_text=f"The first {imports.REPORT_MAX_LINES} rejected rows."
        )

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={201: OutputSerializer},
        summary="Import items from a file, all or nothing or keeping the valid rows",
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
            mode=data.validated_data["mode"],
        )
        return ApiResponse(self.OutputSerializer(result).data, status=201)
