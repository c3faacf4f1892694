from django.apps import AppConfig


class EndpointsConfig(AppConfig):
    name = "endpoints"
    verbose_name = "Models in the loop"

    def ready(self) -> None:
        from endpoints import checks  # noqa: F401  registers the deploy check on the keys
