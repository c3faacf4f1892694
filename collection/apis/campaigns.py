"""REST API for researchers' scripts and annotator clients: one class per operation.

Every class checks who is asking: researchers reach only campaigns they own
(`permissions.campaigns_managed_by`), annotators only their own work, and a
dyad's data only its member and its campaigns' researchers. Objects a caller may
not see answer 404, as if they did not exist.
"""

from __future__ import annotations

import secrets

from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response as ApiResponse
from rest_framework.settings import api_settings
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from collection import imports, selectors, services
from collection.api_input import CheckedJSONParser
from collection.authentication import token_hash
from collection.models import (
    ApiToken,
    Audience,
    Campaign,
    Invitation,
    Item,
    Membership,
    Response,
)
from collection.permissions import (
    audiences_managed_by,
    audiences_visible_to,
    campaigns_managed_by,
    is_admin,
    is_researcher,
)
from collection.throttles import TokenCreateThrottle


def exception_handler(exc, context):
    """Service and import refusals become 4xx answers naming the field or line."""
    if isinstance(exc, services.ServiceError):
        body = {"detail": exc.message, "code": exc.code}
        if exc.field:
            body["field"] = exc.field
        return ApiResponse(body, status=exc.status)
    if isinstance(exc, imports.ImportFileError):
        body = {"detail": str(exc), "code": "too_large" if exc.status == 413 else "invalid_file"}
        if exc.line:
            body["line"] = exc.line
        if exc.field:
            body["field"] = exc.field
        return ApiResponse(body, status=exc.status)
    return drf_exception_handler(exc, context)


def paginate(view: APIView, request, queryset, serializer_class):
    paginator = view.pagination_class() if view.pagination_class else None
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class ListAPIView(APIView):
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS


def participant_of(request):
    return services.participant_get_or_create(user=request.user)


def managed_campaign(request, slug: str) -> Campaign:
    return get_object_or_404(campaigns_managed_by(request.user), slug=slug)


# Who am I, and tokens ------------------------------------------------------------


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


class TokenOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at"]


def api_token_create(*, user, name: str) -> tuple[ApiToken, str]:
    key = "pa_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=key[:10], key_hash=token_hash(key))
    return token, key


class TokenListCreateApi(ListAPIView):
    throttle_classes = [*api_settings.DEFAULT_THROTTLE_CLASSES, TokenCreateThrottle]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)

    class CreatedSerializer(TokenOutputSerializer):
        key = serializers.CharField(help_text="Shown once; store it now.")

        class Meta(TokenOutputSerializer.Meta):
            fields = [*TokenOutputSerializer.Meta.fields, "key"]

    @extend_schema(responses=TokenOutputSerializer(many=True), summary="Your API tokens")
    def get(self, request):
        return paginate(
            self, request, ApiToken.objects.filter(user=request.user), TokenOutputSerializer
        )

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


# Audiences, invitations, memberships -----------------------------------------------


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


def audiences_with_counts(queryset):
    return queryset.annotate(member_count=Count("memberships", distinct=True)).order_by("slug")


class AudienceListCreateApi(ListAPIView):
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
        responses=AudienceOutputSerializer(many=True),
        summary="Audiences you can see",
        parameters=[
            OpenApiParameter(
                "kind", str, enum=Audience.Kind.values, description="Only audiences of this kind."
            )
        ],
    )
    def get(self, request):
        queryset = audiences_visible_to(request.user)
        if request.query_params.get("kind"):
            queryset = queryset.filter(kind=request.query_params["kind"])
        return paginate(self, request, audiences_with_counts(queryset), AudienceOutputSerializer)

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
            audiences_with_counts(audiences_visible_to(request.user)), slug=slug
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
        audience = audiences_with_counts(Audience.objects.filter(pk=audience.pk)).get()
        return ApiResponse(AudienceOutputSerializer(audience).data)


class InvitationOutputSerializer(serializers.ModelSerializer):
    audience = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    join_url = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = [
            "id",
            "audience",
            "token",
            "join_url",
            "note",
            "max_uses",
            "uses",
            "expires_at",
            "revoked",
            "created_at",
        ]

    def get_join_url(self, invitation) -> str:
        return f"/join/{invitation.token}/"


class InvitationListCreateApi(ListAPIView):
    class InputSerializer(serializers.Serializer):
        note = serializers.CharField(max_length=200, required=False, allow_blank=True)
        max_uses = serializers.IntegerField(min_value=1, max_value=10000, default=1)
        expires_at = serializers.DateTimeField(required=False, allow_null=True)

    @extend_schema(
        responses=InvitationOutputSerializer(many=True), summary="Invitations to an audience"
    )
    def get(self, request, slug: str):
        audience = get_object_or_404(audiences_managed_by(request.user), slug=slug)
        return paginate(
            self, request, audience.invitations.order_by("-created_at"), InvitationOutputSerializer
        )

    @extend_schema(
        request=InputSerializer,
        responses={201: InvitationOutputSerializer},
        summary="Create an invitation link (groups and dyads)",
    )
    def post(self, request, slug: str):
        audience = get_object_or_404(audiences_managed_by(request.user), slug=slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation = services.invitation_create(
            audience=audience, created_by=request.user, **data.validated_data
        )
        return ApiResponse(InvitationOutputSerializer(invitation).data, status=201)


class MembershipOutputSerializer(serializers.ModelSerializer):
    audience = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    participant_id = serializers.IntegerField(read_only=True)
    profile_complete = serializers.BooleanField(read_only=True)

    class Meta:
        model = Membership
        fields = ["audience", "participant_id", "attributes", "profile_complete", "joined_at"]


class AudienceMembersApi(ListAPIView):
    @extend_schema(
        responses=MembershipOutputSerializer(many=True),
        summary="Members of an audience, with their attributes (no names)",
    )
    def get(self, request, slug: str):
        audience = get_object_or_404(audiences_managed_by(request.user), slug=slug)
        if audience.kind == Audience.Kind.DYADIC and not (
            is_admin(request.user)
            or campaigns_managed_by(request.user).filter(targets__audience=audience).exists()
        ):
            raise PermissionDenied("A dyad's member is visible to its campaigns' researchers.")
        return paginate(
            self,
            request,
            audience.memberships.select_related("audience").order_by("joined_at"),
            MembershipOutputSerializer,
        )


class AudienceJoinApi(APIView):
    class InputSerializer(serializers.Serializer):
        invitation = serializers.CharField(
            required=False, max_length=64, help_text="The token of an invitation link."
        )
        attributes = serializers.JSONField(required=False)

    @extend_schema(
        request=InputSerializer,
        responses={201: MembershipOutputSerializer},
        summary="Join an audience (open sign-up, or with an invitation token)",
    )
    def post(self, request, slug: str):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        participant = participant_of(request)
        token = data.validated_data.get("invitation")
        invitation = None
        if token:
            invitation = (
                Invitation.objects.select_related("audience")
                .filter(token=token, audience__slug=slug)
                .first()
            )
            if invitation is None:
                raise services.NotFound("There is no such invitation.", field="invitation")
            audience = invitation.audience
        else:
            audience = get_object_or_404(audiences_visible_to(request.user), slug=slug)
        membership = services.membership_join(
            participant=participant,
            audience=audience,
            invitation=invitation,
            attributes=data.validated_data.get("attributes"),
        )
        return ApiResponse(MembershipOutputSerializer(membership).data, status=201)


class AudienceProfileApi(APIView):
    class InputSerializer(serializers.Serializer):
        attributes = serializers.JSONField()

    @extend_schema(
        request=InputSerializer,
        responses=MembershipOutputSerializer,
        summary="Set your attributes in an audience you belong to",
        examples=[
            OpenApiExample(
                "Profile",
                request_only=True,
                value={"attributes": {"age_band": "30-44", "gender": "woman"}},
            )
        ],
    )
    def put(self, request, slug: str):
        membership = get_object_or_404(
            Membership, audience__slug=slug, participant__user=request.user
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.membership_set_attributes(
            membership=membership, attributes=data.validated_data["attributes"]
        )
        return ApiResponse(MembershipOutputSerializer(membership).data)


# Campaigns -------------------------------------------------------------------------


class TargetSerializer(serializers.Serializer):
    audience = serializers.SlugField()
    overlap_k = serializers.IntegerField(min_value=1, max_value=1000)
    stratum_reserve_share = serializers.FloatField(min_value=0, max_value=1, default=0.2)


CAMPAIGN_FIELDS = [
    "name",
    "description",
    "instructions",
    "competence",
    "transience",
    "preference_format",
    "rating_min",
    "rating_max",
    "ask_rationale",
    "ask_confidence",
    "per_participant_cap",
    "attention_check_share",
    "lease_seconds",
    "consent_text",
    "consent_version",
]


class CampaignOutputSerializer(serializers.ModelSerializer):
    owners = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)
    targets = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "slug",
            "item_kind",
            "owners",
            *CAMPAIGN_FIELDS,
            "status",
            "targets",
            "created_at",
            "opened_at",
            "closed_at",
        ]

    def get_targets(self, campaign) -> list[dict]:
        return [
            {
                "audience": target.audience.slug,
                "overlap_k": target.overlap_k,
                "stratum_reserve_share": target.stratum_reserve_share,
            }
            for target in campaign.targets.select_related("audience").order_by("audience__slug")
        ]


class CampaignInputSerializer(serializers.ModelSerializer):
    targets = TargetSerializer(many=True, required=False)

    class Meta:
        model = Campaign
        fields = ["slug", "item_kind", *CAMPAIGN_FIELDS, "targets"]
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
}


def _targets(request, targets: list[dict]) -> list[tuple[Audience, dict]]:
    visible = audiences_visible_to(request.user)
    result = []
    for n, target in enumerate(targets):
        audience = visible.filter(slug=target["audience"]).first()
        if audience is None:
            raise services.ServiceError(
                f"No audience {target['audience']!r}.", field=f"targets.{n}.audience"
            )
        result.append((audience, target))
    return result


class CampaignListCreateApi(ListAPIView):
    @extend_schema(
        responses=CampaignOutputSerializer(many=True),
        summary="Campaigns: the ones you run (researchers) or can annotate (annotators)",
        parameters=[
            OpenApiParameter("status", str, enum=Campaign.Status.values),
            OpenApiParameter("item_kind", str, enum=Campaign.ItemKind.values),
        ],
    )
    def get(self, request):
        if is_researcher(request.user):
            queryset = campaigns_managed_by(request.user)
        else:
            queryset = Campaign.objects.filter(
                status=Campaign.Status.OPEN,
                targets__audience__memberships__participant__user=request.user,
            ).distinct()
        for name in ("status", "item_kind"):
            if request.query_params.get(name):
                queryset = queryset.filter(**{name: request.query_params[name]})
        return paginate(
            self,
            request,
            queryset.order_by("slug").prefetch_related("owners"),
            CampaignOutputSerializer,
        )

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
        campaign = services.campaign_create(owners=[request.user], **fields)
        for audience, target in targets:
            services.campaign_set_target(
                campaign=campaign,
                audience=audience,
                overlap_k=target["overlap_k"],
                stratum_reserve_share=target["stratum_reserve_share"],
            )
        return ApiResponse(CampaignOutputSerializer(campaign).data, status=201)


class CampaignDetailApi(APIView):
    @extend_schema(responses=CampaignOutputSerializer, summary="One campaign")
    def get(self, request, slug: str):
        return ApiResponse(CampaignOutputSerializer(managed_campaign(request, slug)).data)

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
        services.campaign_update(campaign=campaign, fields=fields)
        for audience, target in targets:
            services.campaign_set_target(
                campaign=campaign,
                audience=audience,
                overlap_k=target["overlap_k"],
                stratum_reserve_share=target["stratum_reserve_share"],
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


# Items -------------------------------------------------------------------------------


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
        queryset = campaign.items.order_by("id")
        flag = request.query_params.get("attention_check")
        if flag in ("true", "false"):
            queryset = queryset.filter(is_attention_check=flag == "true")
        if request.query_params.get("external_id"):
            queryset = queryset.filter(external_id=request.query_params["external_id"])
        return paginate(self, request, queryset.select_related("campaign"), ItemOutputSerializer)


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


# Annotating through the API ------------------------------------------------------------


class AnnotatorItemSerializer(serializers.Serializer):
    """An item as an annotator sees it: no source labels, no expected answers."""

    id = serializers.IntegerField()
    prompt = serializers.CharField()
    context = serializers.JSONField(allow_null=True)
    candidates = serializers.ListField(child=serializers.DictField(), required=False)
    draft = serializers.CharField(required=False)
    question = serializers.CharField(required=False)


def annotator_item(item: Item) -> dict:
    data = {"id": item.pk, "prompt": item.prompt, "context": item.context}
    if "candidates" in item.payload:
        data["candidates"] = [{"id": c["id"], "text": c["text"]} for c in item.candidates]
    if item.payload.get("draft"):
        data["draft"] = item.payload["draft"]
    if item.payload.get("question"):
        data["question"] = item.payload["question"]
    return data


class NextOutputSerializer(serializers.Serializer):
    assignment = serializers.IntegerField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    item = AnnotatorItemSerializer(allow_null=True)
    reason = serializers.CharField(allow_null=True)
    code = serializers.CharField(allow_null=True)


def next_payload(result) -> dict:
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
        "item": annotator_item(result.item),
        "reason": None,
        "code": None,
    }


def annotator_campaign(request, slug: str) -> Campaign:
    campaign = (
        Campaign.objects.filter(
            slug=slug, targets__audience__memberships__participant__user=request.user
        )
        .distinct()
        .first()
    )
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
            {"campaign": campaign.slug, "version": consent.version, "agreed_at": consent.agreed_at},
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
        return ApiResponse(NextOutputSerializer(next_payload(result)).data)


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
                    "next": next_payload(following),
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
        participant = participant_of(request)
        assignment = services.assignment_skip(
            participant=participant,
            assignment_id=assignment_id,
            flag_reason=data.validated_data.get("flag_reason", ""),
        )
        campaign = Campaign.objects.get(pk=assignment.campaign_id)
        following = services.assignment_next(participant=participant, campaign=campaign)
        return ApiResponse(NextOutputSerializer(next_payload(following)).data)


# Responses and withdrawal --------------------------------------------------------------


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
        kind = serializers.ChoiceField(choices=Campaign.ItemKind.choices, required=False)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)
        include_withdrawn = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        responses=ResponseOutputSerializer(many=True),
        summary="Responses: your own, or (researchers) those of your campaigns",
        parameters=[
            OpenApiParameter("campaign", str, description="Campaign slug."),
            OpenApiParameter("audience", str, description="Audience slug."),
            OpenApiParameter("kind", str, enum=Campaign.ItemKind.values),
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
        own = Q(participant__user=request.user)
        if is_researcher(request.user):
            own |= Q(campaign__in=campaigns_managed_by(request.user))
        queryset = Response.objects.filter(own)
        if not wanted["include_withdrawn"]:
            queryset = queryset.filter(withdrawn_at__isnull=True)
        lookups = {
            "campaign": "campaign__slug",
            "audience": "audience__slug",
            "kind": "campaign__item_kind",
            "since": "created_at__gte",
            "until": "created_at__lt",
        }
        for name, lookup in lookups.items():
            if name in wanted:
                queryset = queryset.filter(**{lookup: wanted[name]})
        queryset = queryset.select_related("campaign", "audience").order_by("-created_at", "-id")
        return paginate(self, request, queryset, ResponseOutputSerializer)


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
            {
                "campaign": withdrawal.campaign.slug if withdrawal.campaign_id else None,
                "responses_withdrawn": withdrawal.responses_withdrawn,
                "created_at": withdrawal.created_at,
            },
            status=201 if created else 200,
        )
