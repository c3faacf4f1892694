"""REST API for panel studies (researchers of the campaign only; others get 404).

The entrants' external ids are in the completions CSV only (`/panels/<id>/completions.csv`),
never in these answers.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from collection.apis.common import ListAPIView, managed_campaign, paginate
from collection.models import Audience
from collection.permissions import IsResearcher, audiences_visible_to
from panels import selectors, services
from panels.models import PanelStudy


class StudyOutputSerializer(serializers.ModelSerializer):
    campaign = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    audience = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    entry_url = serializers.SerializerMethodField()
    completions_url = serializers.SerializerMethodField()

    class Meta:
        model = PanelStudy
        fields = [
            "id",
            "name",
            "campaign",
            "audience",
            "panel",
            "places",
            "quota_cells",
            "judgements_required",
            "place_minutes",
            "completion_code",
            "screenout_code",
            "overquota_code",
            "completion_url",
            "quotas_released_at",
            "active",
            "entry_url",
            "completions_url",
            "created_at",
        ]

    def get_entry_url(self, study) -> str:
        url = reverse("panel_entry", args=[study.token])
        request = self.context.get("request")
        url = request.build_absolute_uri(url) if request else url
        return f"{url}?{selectors.entry_placeholders(study)}"

    def get_completions_url(self, study) -> str:
        return reverse("panel_completions_csv", args=[study.pk])


class QuotaSerializer(serializers.Serializer):
    label = serializers.CharField()
    places = serializers.IntegerField()
    taken = serializers.IntegerField()
    left = serializers.IntegerField()


class StudyListCreateApi(ListAPIView):
    permission_classes = [IsResearcher]

    class InputSerializer(serializers.Serializer):
        campaign = serializers.SlugField()
        audience = serializers.SlugField()
        panel = serializers.ChoiceField(choices=PanelStudy.Panel.choices)
        name = serializers.CharField(max_length=200)
        places = serializers.IntegerField(min_value=1, max_value=1_000_000)
        quota_cells = serializers.JSONField(required=False)
        judgements_required = serializers.IntegerField(
            min_value=1, max_value=100_000, required=False
        )
        place_minutes = serializers.IntegerField(min_value=1, max_value=10_080, required=False)
        completion_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
        quotas_released_at = serializers.DateTimeField(
            required=False,
            allow_null=True,
            help_text="From then on only the total number of places counts.",
        )

    @extend_schema(responses=StudyOutputSerializer(many=True), summary="Your panel studies")
    def get(self, request):
        return paginate(
            self, request, selectors.panel_studies_managed_by(request.user), StudyOutputSerializer
        )

    @extend_schema(
        request=InputSerializer,
        responses={201: StudyOutputSerializer},
        summary="Create a panel study: an entry link with quotas and completion codes",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        campaign = managed_campaign(request, fields.pop("campaign"))
        audience = get_object_or_404(
            audiences_visible_to(request.user).filter(kind__in=_PANEL_AUDIENCES),
            slug=fields.pop("audience"),
        )
        study = services.panel_study_create(
            campaign=campaign, audience=audience, created_by=request.user, **fields
        )
        return ApiResponse(
            StudyOutputSerializer(study, context={"request": request}).data, status=201
        )


# Recruiting strangers through a panel makes sense for audiences anyone may be part of.
_PANEL_AUDIENCES = (Audience.Kind.MASS, Audience.Kind.PUBLIC)


class StudyDetailApi(APIView):
    permission_classes = [IsResearcher]

    class OutputSerializer(StudyOutputSerializer):
        quotas = serializers.SerializerMethodField()
        entrants = serializers.SerializerMethodField()

        class Meta(StudyOutputSerializer.Meta):
            fields = [*StudyOutputSerializer.Meta.fields, "quotas", "entrants"]

        def get_quotas(self, study) -> list[dict]:
            return QuotaSerializer(selectors.quota_rows(study, timezone.now()), many=True).data

        def get_entrants(self, study) -> dict[str, int]:
            return dict(selectors.status_counts(study))

    @extend_schema(responses=OutputSerializer, summary="One panel study, with its quotas live")
    def get(self, request, study_id: int):
        study = get_object_or_404(selectors.panel_studies_managed_by(request.user), pk=study_id)
        return ApiResponse(self.OutputSerializer(study, context={"request": request}).data)
