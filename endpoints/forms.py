from django import forms

from endpoints.models import ModelEndpoint


class EndpointForm(forms.ModelForm):
    base_url = forms.URLField(
        label="Base URL",
        assume_scheme="https",
        max_length=500,
        help_text="The OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1",
    )
    # Write-only: the page never renders a stored key.
    api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        max_length=4096,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted; never shown again. Empty for servers without keys.",
    )

    class Meta:
        model = ModelEndpoint
        fields = [
            "name",
            "base_url",
            "model",
            "api_key",
            "system_prompt",
            "temperature",
            "top_p",
            "max_tokens",
            "seed",
            "timeout_seconds",
            "max_concurrency",
        ]
        widgets = {"system_prompt": forms.Textarea(attrs={"rows": 3})}
        labels = {"top_p": "Top-p", "timeout_seconds": "Timeout (seconds)"}
