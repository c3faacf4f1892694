from django import forms
from django.contrib import admin

from endpoints import client, crypto
from endpoints.models import GenerationJob, GenerationRequest, ModelEndpoint


class EndpointAdminForm(forms.ModelForm):
    base_url = forms.URLField(assume_scheme="https", max_length=500)
    # Write-only: the form never renders the stored key, and an empty field keeps it.
    api_key = forms.CharField(
        required=False,
        strip=True,
        max_length=4096,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to keep the stored key. Stored encrypted; never shown.",
    )
    remove_api_key = forms.BooleanField(required=False, help_text="Remove the stored key.")

    class Meta:
        model = ModelEndpoint
        fields = [
            "owner",
            "name",
            "base_url",
            "model",
            "api_key",
            "remove_api_key",
            "system_prompt",
            "temperature",
            "top_p",
            "max_tokens",
            "seed",
            "timeout_seconds",
            "max_concurrency",
        ]

    def clean_base_url(self):
        base_url = self.cleaned_data["base_url"]
        refused = client.address_problem(base_url)
        if refused:
            raise forms.ValidationError(refused)
        return base_url

    def save(self, commit=True):
        endpoint = super().save(commit=False)
        if self.cleaned_data.get("remove_api_key"):
            endpoint.api_key_encrypted = ""
        elif self.cleaned_data.get("api_key"):
            endpoint.api_key_encrypted = crypto.encrypt(self.cleaned_data["api_key"])
        if commit:
            endpoint.save()
        return endpoint


@admin.register(ModelEndpoint)
class ModelEndpointAdmin(admin.ModelAdmin):
    form = EndpointAdminForm
    list_display = ["name", "model", "base_url", "owner", "has_api_key", "created_at"]
    list_filter = ["owner"]
    search_fields = ["name", "model", "base_url"]
    readonly_fields = ["has_api_key", "created_at"]

    @admin.display(boolean=True, description="API key stored")
    def has_api_key(self, endpoint):
        return endpoint.has_api_key


class GenerationRequestInline(admin.TabularInline):
    model = GenerationRequest
    fields = ["item", "endpoint", "sample", "status", "attempts", "latency_ms", "error"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(error="")


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    list_display = ["id", "campaign", "status", "items_total", "requests_total", "created_at"]
    list_filter = ["status"]
    readonly_fields = [
        "campaign",
        "created_by",
        "sources",
        "keep",
        "diverse",
        "item_filter",
        "items_total",
        "requests_total",
        "created_at",
        "started_at",
        "finished_at",
    ]
    inlines = [GenerationRequestInline]
