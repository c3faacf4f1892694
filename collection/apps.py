from django.apps import AppConfig


class CollectionConfig(AppConfig):
    name = "collection"
    verbose_name = "Collection"

    def ready(self) -> None:
        from collection import kinds, schema  # noqa: F401  schema registers the token auth scheme

        # Here, not at import: the kind modules use the models and forms.
        kinds.load()
        # The engine's quotas on the campaign page and dashboard (`quotas` sits below
        # the selectors, so it is handed them here).
        from collection import quotas, selectors

        quotas.register_board_source(selectors.engine_quota_boards)
