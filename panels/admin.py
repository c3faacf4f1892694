from django.contrib import admin

from panels.models import PanelEntrant, PanelStudy


@admin.register(PanelStudy)
class PanelStudyAdmin(admin.ModelAdmin):
    list_display = ["name", "panel", "campaign", "audience", "places", "active"]
    list_filter = ["panel", "active"]
    readonly_fields = ["campaign", "audience", "panel", "token", "invitation", "created_by"]

    # A study is created with its own invitation into the audience, by the service
    # behind the API (`POST /api/v1/panel-studies/`); here it can be changed or closed.
    def has_add_permission(self, request):
        return False


@admin.register(PanelEntrant)
class PanelEntrantAdmin(admin.ModelAdmin):
    list_display = ["pk", "study", "status", "entered_at", "finished_at"]
    list_filter = ["status", "study"]
    readonly_fields = [f.name for f in PanelEntrant._meta.fields]

    def has_add_permission(self, request):
        return False
