from django.apps import AppConfig


class CollectionConfig(AppConfig):
    name = "collection"
    verbose_name = "Collection"

    def ready(self) -> None:
        from collection import kinds, schema  # noqa: F401  schema registers the token auth scheme

        # Here, not at import: the kind modules use the models and forms.
        kinds.load()
