"""REST API for model endpoints and generation jobs (researchers only).

An endpoint's API key is write-only: requests may set it, no answer carries it
(``has_api_key`` says whether one is stored). Endpoints a caller does not own,
and jobs of campaigns they do not manage, answer 404.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from collection.apis.common import ListAPIView, known_slug, managed_campaign, paginate
from collection.permissions import IsResearcher, campaigns_managed_by
from endpoints import selectors, services
from endpoints.models import GenerationJob, ModelEndpoint

ENDPOINT_FIELDS = [
    "name",
    "base_url",
    "model",
    "system_prompt",
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "timeout_seconds",
    "max_concurrency",
]


class EndpointOutputSerializer(serializers.ModelSerializer):
    has_api_key = serializers.BooleanField(read_only=True)

    class Meta:
        model = ModelEndpoint
        fields = ["id", *ENDPOINT_FIELDS, "has_api_key", "created_at"]


class EndpointInputSerializer(serializers.ModelSerializer):
    api_key = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=4096,
        trim_whitespace=True,
        help_text="Stored encrypted and never returned; on update, omit it to keep the "
        "key and send an empty string to remove it.",
    )

    class Meta:
        model = ModelEndpoint
        fields = [*ENDPOINT_FIELDS, "api_key"]
        # Uniqueness is the service's to check (409 naming the field).
        validators = []


ENDPOINT_EXAMPLE = {
    "name": "Local Llama",
    "base_url": "http://127.0.0.1:11434/v1",
    "model": "llama3.1:8b",
    "api_key": "sk-...",
    "temperature": 0.7,
    "max_tokens": 512,
    "timeout_seconds": 60,
}


class EndpointListCreateApi(ListAPIView):
    permission_classes = [IsResearcher]

    @extend_schema(responses=EndpointOutputSerializer(many=True), summary="Your model endpoints")
    def get(self, request):
        return paginate(
            self, request, selectors.endpoints_usable_by(request.user), EndpointOutputSerializer
        )

    @extend_schema(
        request=EndpointInputSerializer,
        responses={201: EndpointOutputSerializer},
        summary="Register an OpenAI-compatible model endpoint",
        examples=[OpenApiExample("Ollama", value=ENDPOINT_EXAMPLE, request_only=True)],
    )
    def post(self, request):
        data = EndpointInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = services.endpoint_create(owner=request.user, **data.validated_data)
        return ApiResponse(EndpointOutputSerializer(endpoint).data, status=201)


def _endpoint(request, endpoint_id: int) -> ModelEndpoint:
    return get_object_or_404(selectors.endpoints_usable_by(request.user), pk=endpoint_id)


class EndpointDetailApi(APIView):
    permission_classes = [IsResearcher]

    @extend_schema(responses=EndpointOutputSerializer, summary="One model endpoint")
    def get(self, request, endpoint_id: int):
        return ApiResponse(EndpointOutputSerializer(_endpoint(request, endpoint_id)).data)

    @extend_schema(
        request=EndpointInputSerializer,
        responses=EndpointOutputSerializer,
        summary="Change a model endpoint (omit api_key to keep it)",
    )
    def patch(self, request, endpoint_id: int):
        endpoint = _endpoint(request, endpoint_id)
        data = EndpointInputSerializer(endpoint, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        api_key = fields.pop("api_key", None)
        endpoint = services.endpoint_update(endpoint=endpoint, fields=fields, api_key=api_key)
        return ApiResponse(EndpointOutputSerializer(endpoint).data)


class EndpointTestApi(APIView):
    permission_classes = [IsResearcher]

    class OutputSerializer(serializers.Serializer):
        ok = serializers.BooleanField()
        message = serializers.CharField()
        latency_ms = serializers.IntegerField(allow_null=True)
        reply = serializers.CharField(allow_blank=True)

    @extend_schema(
        request=None,
        responses=OutputSerializer,
        summary="Test the connection: one short completion, no retries",
    )
    def post(self, request, endpoint_id: int):
        check = services.endpoint_test_connection(endpoint=_endpoint(request, endpoint_id))
        return ApiResponse(self.OutputSerializer(check).data)


# Generation jobs ---------------------------------------------------------------------


class SourceSerializer(serializers.Serializer):
    endpoint = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, help_text="A model endpoint's id (one of yours)."
    )
    samples = serializers.IntegerField(default=1, min_value=1, max_value=services.MAX_SAMPLES)
    temperatures = serializers.ListField(
        child=serializers.FloatField(min_value=0, max_value=2),
        required=False,
        allow_null=True,
        default=None,
        help_text="One per sample; otherwise the endpoint's own temperature.",
    )


class ProgressSerializer(serializers.Serializer):
    requests_total = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    pending = serializers.IntegerField()
    items_total = serializers.IntegerField()
    items_done = serializers.IntegerField()
    fraction = serializers.FloatField()
    errors = serializers.ListField(child=serializers.DictField())


class JobOutputSerializer(serializers.ModelSerializer):
    campaign = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = GenerationJob
        fields = [
            "id",
            "campaign",
            "status",
            "sources",
            "keep",
            "diverse",
            "item_filter",
            "max_attempts",
            "chunk_size",
            "progress",
            "created_at",
            "started_at",
            "finished_at",
        ]

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, job) -> dict:
        return ProgressSerializer(selectors.generation_job_progress(job=job)).data


class GenerationJobListCreateApi(ListAPIView):
    permission_classes = [IsResearcher]

    class InputSerializer(serializers.Serializer):
        campaign = serializers.SlugField(help_text="A preference campaign you run.")
        sources = SourceSerializer(many=True)
        keep = serializers.IntegerField(
            required=False, allow_null=True, default=None, help_text="Candidates per item."
        )
        diverse = serializers.BooleanField(
            default=False, help_text="Sample more than you keep and keep the most different."
        )
        items = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
            max_length=100_000,
            required=False,
            allow_null=True,
            default=None,
            help_text="Item ids; by default every item with fewer than two candidates.",
        )
        max_attempts = serializers.IntegerField(default=4, min_value=1, max_value=10)
        chunk_size = serializers.IntegerField(default=20, min_value=1, max_value=1000)

    @extend_schema(responses=JobOutputSerializer(many=True), summary="Generation jobs")
    def get(self, request):
        jobs = selectors.generation_jobs_visible_to(request.user)
        slug = request.query_params.get("campaign")
        if slug:
            campaigns = campaigns_managed_by(request.user)
            known_slug(campaigns, slug, field="campaign", what="campaign")
            jobs = jobs.filter(campaign__slug=slug)
        return paginate(self, request, jobs, JobOutputSerializer)

    @extend_schema(
        request=InputSerializer,
        responses={201: JobOutputSerializer},
        summary="Generate candidates for a preference campaign's items",
        examples=[
            OpenApiExample(
                "Two endpoints",
                value={"campaign": "homework", "sources": [{"endpoint": 1}, {"endpoint": 2}]},
                request_only=True,
            ),
            OpenApiExample(
                "One endpoint, diverse",
                value={
                    "campaign": "homework",
                    "sources": [{"endpoint": 1, "samples": 6}],
                    "keep": 3,
                    "diverse": True,
                },
                request_only=True,
            ),
        ],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        job = services.generation_job_create(
            campaign=managed_campaign(request, fields["campaign"]),
            created_by=request.user,
            sources=[dict(source) for source in fields["sources"]],
            keep=fields["keep"],
            diverse=fields["diverse"],
            item_ids=fields["items"],
            max_attempts=fields["max_attempts"],
            chunk_size=fields["chunk_size"],
        )
        return ApiResponse(JobOutputSerializer(job).data, status=201)


def _job(request, job_id: int) -> GenerationJob:
    return get_object_or_404(selectors.generation_jobs_visible_to(request.user), pk=job_id)


class GenerationJobDetailApi(APIView):
    permission_classes = [IsResearcher]

    @extend_schema(responses=JobOutputSerializer, summary="A generation job and its progress")
    def get(self, request, job_id: int):
        return ApiResponse(JobOutputSerializer(_job(request, job_id)).data)


class GenerationJobResumeApi(APIView):
    permission_classes = [IsResearcher]

    @extend_schema(
        request=None,
        responses=JobOutputSerializer,
        summary="Run a job's unfinished and failed requests again (keeps finished work)",
    )
    def post(self, request, job_id: int):
        job = services.generation_job_resume(job=_job(request, job_id))
        return ApiResponse(JobOutputSerializer(job).data)
