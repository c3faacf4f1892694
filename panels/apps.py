from django.apps import AppConfig


class PanelsConfig(AppConfig):
    name = "panels"
    verbose_name = "Recruitment panels"

    def ready(self) -> None:
        # Panel quotas on the campaign page and the coverage dashboard, which sit in
        # aggregation and so cannot import panels: they read the registered sources.
        from collection import quotas
        from panels import selectors

        quotas.register_board_source(selectors.panel_quota_boards)
