"""The export and alert API: start a release, poll it, list releases, download them;
list coverage alerts.

Only a campaign's researchers (`collection.permissions.campaigns_managed_by`: owners
still in the researchers group) and staff see its exports and alerts; anyone else gets
404, as if the campaign did not exist (annotators get 403 from the alert list).
Each operation is one class with its own input and output serializers, calling
one service or selector.
"""

from __future__ import annotations

from django.http import FileResponse, Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from aggregation import selectors
from aggregation.models import (
    DEFAULT_OPTIONS,
    FORMATS,
    CoverageAlert,
    ExportJob,
    Release,
)
from aggregation.release import jobs
from aggregation.release import kinds as item_kinds
from collection.apis.common import ListAPIView, known_slug, paginate
from collection.permissions import IsResearcher, audiences_visible_to, campaigns_managed_by


def _campaign(request, slug: str):
    campaign = selectors.campaign_for_researcher(user=request.user, slug=slug)
    if campaign is None:
        raise Http404("No such campaign.")
    return campaign


class ReleaseFileSerializer(serializers.Serializer):
    path = serializers.CharField()
    sha256 = serializers.CharField()
    bytes = serializers.IntegerField()
    rows = serializers.IntegerField(allow_null=True)
    url = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, entry: dict) -> str:
        release = self.context["release"]
        return self.context["request"].build_absolute_uri(
            reverse(
                "api-release-file",
                args=[release.campaign.slug, release.version, entry["path"]],
            )
        )


class ReleaseOutputSerializer(serializers.ModelSerializer):
    campaign = serializers.CharField(source="campaign.slug")
    audiences = serializers.SlugRelatedField(many=True, read_only=True, slug_field="slug")
    download_url = serializers.SerializerMethodField()
    files = serializers.SerializerMethodField()

    class Meta:
        model = Release
        fields = [
            "campaign",
            "version",
            "audiences",
            "counts",
            "size_bytes",
            "zip_name",
            "zip_bytes",
            "withdrawn_since_previous",
            "snapshot_at",
            "created_at",
            "download_url",
            "files",
        ]

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, release: Release) -> str:
        return self.context["request"].build_absolute_uri(
            reverse("api-release-download", args=[release.campaign.slug, release.version])
        )

    @extend_schema_field(ReleaseFileSerializer(many=True))
    def get_files(self, release: Release) -> list[dict]:
        context = {**self.context, "release": release}
        return ReleaseFileSerializer(release.files, many=True, context=context).data


class ExportJobOutputSerializer(serializers.ModelSerializer):
    campaign = serializers.CharField(source="campaign.slug")
    audiences = serializers.SerializerMethodField()
    release = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    last_heard_seconds = serializers.FloatField(
        read_only=True,
        allow_null=True,
        help_text="While running: seconds since the building worker last answered.",
    )
    stopped_answering = serializers.BooleanField(
        read_only=True,
        help_text="Running, but its worker has not answered for longer than the requeue "
        "threshold: it is requeued shortly (or may be run again).",
    )

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "url",
            "campaign",
            "version",
            "audiences",
            "kinds",
            "formats",
            "options",
            "status",
            "progress",
            "message",
            "error",
            "attempts",
            "heartbeat_at",
            "last_heard_seconds",
            "stopped_answering",
            "created_at",
            "started_at",
            "finished_at",
            "release",
        ]

    def get_audiences(self, job: ExportJob) -> list[str]:
        slugs = [audience.slug for audience in job.audiences.all()]
        return sorted(slugs) or sorted(a.slug for a in job.campaign.audiences.all())

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, job: ExportJob) -> str:
        return self.context["request"].build_absolute_uri(
            reverse("api-export-detail", args=[job.pk])
        )

    @extend_schema_field(ReleaseOutputSerializer(allow_null=True))
    def get_release(self, job: ExportJob) -> dict | None:
        release = Release.objects.filter(job=job).select_related("campaign").first()
        if release is None:
            return None
        return ReleaseOutputSerializer(release, context=self.context).data


class ExportCreateApi(APIView):
    """POST: start building the campaign's next release. GET: the campaign's exports."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        audiences = serializers.ListField(
            child=serializers.SlugField(), required=False, help_text="Default: all."
        )
        kinds = serializers.ListField(
            child=serializers.ChoiceField(choices=item_kinds.all_dataset_names()), required=False
        )
        formats = serializers.ListField(
            child=serializers.ChoiceField(choices=FORMATS),
            required=False,
            help_text="Parquet is always written; add jsonl and/or openai.",
        )
        options = serializers.DictField(required=False, help_text=f"Defaults: {DEFAULT_OPTIONS}")

    @extend_schema(
        request=InputSerializer,
        responses={201: ExportJobOutputSerializer, 400: OpenApiResponse(description="Bad input")},
        summary="Start a release build",
    )
    def post(self, request, slug: str):
        campaign = _campaign(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = jobs.export_job_create(
            campaign=campaign, created_by=request.user, **data.validated_data
        )
        # Without a broker the build ran in-process on commit, before this line: answer
        # the job as it stands now, not as it was queued.
        job.refresh_from_db()
        output = ExportJobOutputSerializer(job, context={"request": request})
        return Response(
            output.data, status=status.HTTP_201_CREATED, headers={"Location": output.data["url"]}
        )

    @extend_schema(responses=ExportJobOutputSerializer(many=True), summary="List exports")
    def get(self, request, slug: str):
        campaign = _campaign(request, slug)
        jobs = selectors.export_jobs_for_campaign(campaign=campaign)[:100]
        return Response(
            ExportJobOutputSerializer(jobs, many=True, context={"request": request}).data
        )


class ExportDetailApi(APIView):
    """GET: an export job's status and progress, and its release once published."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=ExportJobOutputSerializer, summary="Poll an export")
    def get(self, request, job_id: int):
        job = selectors.export_job_for_researcher(user=request.user, job_id=job_id)
        if job is None:
            raise Http404("No such export.")
        return Response(ExportJobOutputSerializer(job, context={"request": request}).data)


class ExportRetryApi(APIView):
    """POST: run a failed or abandoned export again (same version, same bytes)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={202: ExportJobOutputSerializer, 409: OpenApiResponse(description="Running")},
        summary="Re-run an export",
    )
    def post(self, request, job_id: int):
        job = selectors.export_job_for_researcher(user=request.user, job_id=job_id)
        if job is None:
            raise Http404("No such export.")
        job = jobs.export_job_retry(job=job)
        return Response(
            ExportJobOutputSerializer(job, context={"request": request}).data,
            status=status.HTTP_202_ACCEPTED,
        )


class ReleaseListApi(ListAPIView):
    """GET: the campaign's releases, newest first, paginated like every list."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=ReleaseOutputSerializer(many=True), summary="List releases")
    def get(self, request, slug: str):
        campaign = _campaign(request, slug)
        releases = selectors.releases_for_campaign(campaign=campaign).select_related("campaign")
        return paginate(
            self, request, releases, ReleaseOutputSerializer, context={"request": request}
        )


def _release(request, slug: str, version: int) -> Release:
    release = selectors.release_for_campaign(campaign=_campaign(request, slug), version=version)
    if release is None:
        raise Http404("No such release.")
    return release


class ReleaseDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=ReleaseOutputSerializer, summary="A release and its files")
    def get(self, request, slug: str, version: int):
        release = _release(request, slug, version)
        return Response(ReleaseOutputSerializer(release, context={"request": request}).data)


class ReleaseDownloadApi(APIView):
    """GET: the whole release as one zip."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY}, summary="Zip")
    def get(self, request, slug: str, version: int):
        release = _release(request, slug, version)
        return release_file_response(release, release.zip_name)


class ReleaseFileApi(APIView):
    """GET: one file of a release, by its path in manifest.json."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY}, summary="One file"
    )
    def get(self, request, slug: str, version: int, path: str):
        release = _release(request, slug, version)
        if path != "manifest.json" and release.file_entry(path) is None:
            raise Http404("No such file in this release.")
        return release_file_response(release, path)


class AlertListApi(ListAPIView):
    """GET: coverage alerts (under-covered strata, dominant annotators), newest first.

    Staff see every campaign's alerts, researchers those of their campaigns;
    annotators are refused. Open alerts by default; ``status=all`` adds the
    resolved ones. The rules are in `aggregation.alerts`.
    """

    permission_classes = [IsAuthenticated, IsResearcher]

    class InputSerializer(serializers.Serializer):
        campaign = serializers.SlugField(required=False)
        audience = serializers.SlugField(required=False)
        kind = serializers.ChoiceField(choices=CoverageAlert.Kind.choices, required=False)
        status = serializers.ChoiceField(choices=["open", "resolved", "all"], default="open")

    class OutputSerializer(serializers.ModelSerializer):
        campaign = serializers.CharField(source="campaign.slug")
        audience = serializers.CharField(source="audience.slug")
        # Plain text in the schema: a second enum named "kind" would rename the
        # audiences' KindEnum component that API clients already use.
        kind = serializers.CharField(help_text="under_coverage or dominance")
        is_open = serializers.BooleanField()

        class Meta:
            model = CoverageAlert
            fields = [
                "id",
                "campaign",
                "audience",
                "kind",
                "subject",
                "message",
                "detail",
                "is_open",
                "created_at",
                "last_seen_at",
                "resolved_at",
            ]

    @extend_schema(
        parameters=[
            OpenApiParameter("campaign", str, description="Campaign slug."),
            OpenApiParameter("audience", str, description="Audience slug."),
            OpenApiParameter("kind", str, enum=CoverageAlert.Kind.values),
            OpenApiParameter(
                "status", str, enum=["open", "resolved", "all"], description="Default: open."
            ),
        ],
        responses={
            200: OutputSerializer(many=True),
            403: OpenApiResponse(description="Not a researcher"),
            400: OpenApiResponse(description="A filter names no campaign or audience of yours"),
        },
        summary="Coverage alerts of your campaigns",
    )
    def get(self, request):
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        wanted = data.validated_data
        campaigns = campaigns_managed_by(request.user)
        if "campaign" in wanted:
            known_slug(campaigns, wanted["campaign"], field="campaign", what="campaign")
            campaigns = campaigns.filter(slug=wanted["campaign"])
        if "audience" in wanted:
            audiences = audiences_visible_to(request.user)
            known_slug(audiences, wanted["audience"], field="audience", what="audience")
        alerts = CoverageAlert.objects.filter(campaign__in=campaigns)
        if wanted["status"] != "all":
            alerts = alerts.filter(resolved_at__isnull=wanted["status"] == "open")
        if "audience" in wanted:
            alerts = alerts.filter(audience__slug=wanted["audience"])
        if "kind" in wanted:
            alerts = alerts.filter(kind=wanted["kind"])
        alerts = alerts.select_related("campaign", "audience").order_by("-created_at", "-id")
        return paginate(self, request, alerts, self.OutputSerializer)


CONTENT_TYPES = {
    ".zip": "application/zip",
    ".parquet": "application/vnd.apache.parquet",
    ".jsonl": "application/jsonl",
    ".json": "application/json",
    ".md": "text/markdown; charset=utf-8",
    ".png": "image/png",
}


def release_file_response(release: Release, name: str) -> FileResponse:
    """A file of a published release; ``name`` must come from the release's own lists."""
    path = release.directory / name
    if not path.is_file():
        raise Http404("This file is missing from the release folder.")
    suffix = "." + name.rsplit(".", 1)[-1]
    response = FileResponse(
        open(path, "rb"),  # noqa: SIM115 (FileResponse closes it)
        as_attachment=suffix != ".png",
        filename=name.replace("/", "-"),
        content_type=CONTENT_TYPES.get(suffix, "application/octet-stream"),
    )
    return response
