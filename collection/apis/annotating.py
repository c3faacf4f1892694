"""Annotating through the API: consent, the next item, submitting, skipping and flagging.

An item is shown as an annotator sees it (`annotator_item`: no source labels, no
expected answers), and each answer's reply carries the next item.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from collection import kinds, services
from collection.apis.common import participant_of
from collection.models import Campaign, Item
from collection.permissions import campaigns_open_to


class AnnotatorItemSerializer(serializers.Serializer):
    """An item as an annotator sees it: no source labels, no expected answers."""

    id = serializers.IntegerField()
    prompt = serializers.CharField()
    context = serializers.JSONField(allow_null=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        """The common fields, then every registered kind's (`Kind.annotator_fields`), read
        when the serializer is used, so a kind registered later is shown too."""
        fields = super().get_fields()
        for kind in kinds.all():
            for name, field in kind.annotator_fields().items():
                fields.setdefault(name, field)
        return fields


def annotator_item(item: Item, campaign: Campaign) -> dict:
    data = {"id": item.pk, "prompt": item.prompt, "context": item.context}
    return {**data, **kinds.get(campaign.item_kind).annotator_item(item)}


class NextOutputSerializer(serializers.Serializer):
    assignment = serializers.IntegerField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    item = AnnotatorItemSerializer(allow_null=True)
    reason = serializers.CharField(allow_null=True)
    code = serializers.CharField(allow_null=True)


def next_payload(result, campaign: Campaign | None = None) -> dict:
    """The next-item reply; ``campaign`` (the item's) saves a query where the caller has it."""
    if isinstance(result, services.NoItem):
        return {
            "assignment": None,
            "expires_at": None,
            "item": None,
            "reason": result.reason,
            "code": result.code,
        }
    return {
        "assignment": result.pk,
        "expires_at": result.expires_at,
        "item": annotator_item(result.item, campaign or result.campaign),
        "reason": None,
        "code": None,
    }


def annotator_campaign(request, slug: str) -> Campaign:
    campaign = campaigns_open_to(request.user).filter(slug=slug).first()
    if campaign is None:
        raise services.NotFound("No such campaign among your audiences.", field="campaign")
    return campaign


class ConsentApi(APIView):
    class OutputSerializer(serializers.Serializer):
        campaign = serializers.CharField()
        version = serializers.CharField()
        agreed_at = serializers.DateTimeField()

    @extend_schema(
        request=None,
        responses={201: OutputSerializer},
        summary="Consent to a campaign's current consent text",
    )
    def post(self, request, slug: str):
        campaign = annotator_campaign(request, slug)
        consent = services.consent_give(participant=participant_of(request), campaign=campaign)
        return ApiResponse(
            self.OutputSerializer(
                {
                    "campaign": campaign.slug,
                    "version": consent.version,
                    "agreed_at": consent.agreed_at,
                }
            ).data,
            status=201,
        )


class NextItemApi(APIView):
    @extend_schema(
        request=None,
        responses=NextOutputSerializer,
        summary="Lease the next item (or learn why there is none)",
    )
    def post(self, request, slug: str):
        campaign = annotator_campaign(request, slug)
        result = services.assignment_next(participant=participant_of(request), campaign=campaign)
        return ApiResponse(NextOutputSerializer(next_payload(result, campaign)).data)


class SubmitApi(APIView):
    class InputSerializer(serializers.Serializer):
        payload = serializers.JSONField(help_text="The answer; its shape depends on the kind.")
        time_on_task_ms = serializers.IntegerField(min_value=0, max_value=86_400_000)
        idempotency_key = serializers.UUIDField()

    class OutputSerializer(serializers.Serializer):
        response = serializers.IntegerField()
        created = serializers.BooleanField()
        next = NextOutputSerializer()

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, 200: OutputSerializer},
        summary="Submit an answer; the reply carries the next item",
        examples=[
            OpenApiExample(
                "Pairwise choice",
                request_only=True,
                value={
                    "payload": {"choice": "a", "confidence": 4},
                    "time_on_task_ms": 5400,
                    "idempotency_key": "5b1f6c8e-0f4a-4d5e-9a51-6c7f1b2a3d4e",
                },
            )
        ],
    )
    def post(self, request, assignment_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        submission, following = services.response_submit_and_next(
            participant=participant_of(request),
            assignment_id=assignment_id,
            **data.validated_data,
        )
        return ApiResponse(
            self.OutputSerializer(
                {
                    "response": submission.response.pk,
                    "created": submission.created,
                    "next": next_payload(following, submission.response.campaign),
                }
            ).data,
            status=201 if submission.created else 200,
        )


class SkipApi(APIView):
    class InputSerializer(serializers.Serializer):
        flag_reason = serializers.CharField(max_length=1000, required=False, allow_blank=True)

    @extend_schema(
        request=InputSerializer,
        responses=NextOutputSerializer,
        summary="Skip an item, or flag it with a reason; returns the next item",
    )
    def post(self, request, assignment_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        following = services.assignment_skip_and_next(
            participant=participant_of(request),
            assignment_id=assignment_id,
            flag_reason=data.validated_data.get("flag_reason", ""),
        )
        return ApiResponse(NextOutputSerializer(next_payload(following)).data)
