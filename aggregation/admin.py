from django.contrib import admin

from aggregation.models import CoverageAlert, ExportJob, MetricsSnapshot, Release


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = [
        "campaign",
        "version",
        "status",
        "progress",
        "attempts",
        "heartbeat_at",
        "worker",
    ]
    list_filter = ["status"]
    search_fields = ["campaign__slug"]
    exclude = ["pseudonym_key"]
    readonly_fields = [
        field.name for field in ExportJob._meta.fields if field.name != "pseudonym_key"
    ]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ["campaign", "version", "size_bytes", "withdrawn_since_previous", "created_at"]
    search_fields = ["campaign__slug"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(MetricsSnapshot)
class MetricsSnapshotAdmin(admin.ModelAdmin):
    list_display = ["campaign", "computed_at", "seconds"]
    search_fields = ["campaign__slug"]
    readonly_fields = ["campaign", "metrics", "top_participants", "computed_at", "seconds"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CoverageAlert)
class CoverageAlertAdmin(admin.ModelAdmin):
    list_display = ["campaign", "audience", "kind", "subject", "created_at", "resolved_at"]
    list_filter = ["kind", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["campaign__slug", "audience__slug", "subject", "message"]
    readonly_fields = [
        "campaign",
        "audience",
        "kind",
        "subject",
        "message",
        "detail",
        "created_at",
        "last_seen_at",
    ]

    def has_add_permission(self, request, obj=None):
        return False
