"""Joining audiences: invitation links, members, joining, one's profile in an audience."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from collection import services
from collection.apis.common import ListAPIView, paginate, participant_of
from collection.models import Audience, Invitation, Membership
from collection.permissions import (
    audiences_managed_by,
    audiences_visible_to,
    campaigns_managed_by,
    is_admin,
)


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


class InvitationListApi(ListAPIView):
    @extend_schema(
        responses=InvitationOutputSerializer(many=True), summary="Invitations to an audience"
    )
    def get(self, request, slug: str):
        audience = get_object_or_404(audiences_managed_by(request.user), slug=slug)
        return paginate(
            self, request, audience.invitations.order_by("-created_at"), InvitationOutputSerializer
        )


class InvitationCreateApi(APIView):
    # The component name from before list and create were split, so generated clients
    # keep their type names.
    @extend_schema_serializer(component_name="InvitationListCreateInput")
    class InputSerializer(serializers.Serializer):
        note = serializers.CharField(max_length=200, required=False, allow_blank=True)
        max_uses = serializers.IntegerField(min_value=1, max_value=10000, default=1)
        expires_at = serializers.DateTimeField(required=False, allow_null=True)

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
