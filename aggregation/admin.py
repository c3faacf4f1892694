from django.contrib import admin

from aggregation.models import ExportJob, Release


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = ["campaign", "version", "status", "progress", "attempts", "created_at"]
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
