from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def endpoint_keys_set(app_configs, **kwargs):
    """`check --deploy` says so when endpoint API keys would not be encryptable."""
    if settings.PLURALIGN_ENDPOINT_KEYS or settings.DEBUG:
        return []
    return [
        checks.Error(
            "PLURALIGN_ENDPOINT_KEYS is not set: model endpoints' API keys cannot be "
            "stored or read.",
            hint="Generate one with `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`.",
            id="endpoints.E001",
        )
    ]
