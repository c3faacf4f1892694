from django.contrib import admin, messages
from django.db import models
from django.utils.html import format_html

from collection import services
from collection.forms import CheckedJSONField
from collection.models import (
    AdaptiveOverlap,
    AllocationDecision,
    ApiToken,
    Assignment,
    Audience,
    Campaign,
    CampaignAudience,
    Consent,
    Conversation,
    ConversationSettings,
    Invitation,
    Item,
    Membership,
    Participant,
    Response,
    Slot,
    Turn,
    Withdrawal,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Collected data is evidence: admins may look, filter and search, not edit."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# The JSON boxes refuse what the API's parser refuses (deep nesting, huge numbers).
JSON_BOXES = {models.JSONField: {"form_class": CheckedJSONField}}


class InvitationInline(admin.TabularInline):
    model = Invitation
    extra = 0
    fields = ["token", "note", "max_uses", "uses", "expires_at", "revoked"]
    readonly_fields = ["token", "uses"]


@admin.register(Audience)
class AudienceAdmin(admin.ModelAdmin):
    formfield_overrides = JSON_BOXES
    list_display = ["slug", "name", "kind", "screened", "max_members", "member_count"]
    list_filter = ["kind", "screened"]
    search_fields = ["slug", "name", "description"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [InvitationInline]

    @admin.display(description="members")
    def member_count(self, obj: Audience) -> int:
        return obj.memberships.count()

    def get_readonly_fields(self, request, obj=None):
        # The kind decides who may join and what is exported; it cannot change later.
        return ["kind"] if obj else []


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["audience", "note", "uses", "max_uses", "expires_at", "revoked", "link"]
    list_filter = ["audience", "revoked"]
    search_fields = ["note", "token", "audience__slug"]
    readonly_fields = ["token", "uses", "created_at", "link"]

    @admin.display(description="invitation link")
    def link(self, obj: Invitation) -> str:
        if not obj.pk:
            return "-"
        return format_html("<code>/join/{}/</code>", obj.token)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class CampaignAudienceInline(admin.TabularInline):
    model = CampaignAudience
    extra = 1
    fields = ["audience", "overlap_k", "quota_release_at"]


class AdaptiveOverlapInline(admin.StackedInline):
    """Adaptive overlap: the rule that gives items where audiences disagree more slots
    (aggregation/allocation.py runs it every few seconds)."""

    model = AdaptiveOverlap
    extra = 0
    max_num = 1
    fields = ["max_k", "step", "rule", "jsd_threshold", "entropy_threshold"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = [
        "slug",
        "name",
        "item_kind",
        "competence",
        "transience",
        "status",
        "item_count",
    ]
    list_filter = ["status", "item_kind", "competence", "transience", "targets__audience"]
    search_fields = ["slug", "name", "description"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["owners"]
    inlines = [CampaignAudienceInline, AdaptiveOverlapInline]
    readonly_fields = ["created_at", "opened_at", "closed_at"]
    actions = ["open_campaigns", "pause_campaigns", "close_campaigns"]

    @admin.display(description="items")
    def item_count(self, obj: Campaign) -> int:
        return obj.items.count()

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Targets may have been added or their k changed: give every item its slots.
        services.campaign_sync_slots(campaign=form.instance)

    def _set_status(self, request, queryset, status: str) -> None:
        for campaign in queryset:
            try:
                services.campaign_set_status(campaign=campaign, status=status)
            except services.ServiceError as error:
                self.message_user(request, f"{campaign.slug}: {error}", messages.ERROR)

    @admin.action(description="Open selected campaigns")
    def open_campaigns(self, request, queryset):
        self._set_status(request, queryset, Campaign.Status.OPEN)

    @admin.action(description="Pause selected campaigns")
    def pause_campaigns(self, request, queryset):
        self._set_status(request, queryset, Campaign.Status.PAUSED)

    @admin.action(description="Close selected campaigns")
    def close_campaigns(self, request, queryset):
        self._set_status(request, queryset, Campaign.Status.CLOSED)


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    formfield_overrides = JSON_BOXES
    list_display = ["id", "external_id", "campaign", "short_prompt", "is_attention_check"]
    list_filter = ["campaign", "campaign__item_kind", "is_attention_check"]
    search_fields = ["external_id", "prompt"]
    list_select_related = ["campaign"]
    raw_id_fields = ["campaign"]
    show_full_result_count = False

    @admin.display(description="prompt")
    def short_prompt(self, obj: Item) -> str:
        return obj.prompt[:80]


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "created_at"]
    list_filter = ["memberships__audience"]
    search_fields = ["user__username", "user__email"]
    raw_id_fields = ["user"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    formfield_overrides = JSON_BOXES
    list_display = ["participant", "audience", "audience_kind", "attributes", "joined_at"]
    list_filter = ["audience", "audience_kind"]
    search_fields = ["participant__user__username", "audience__slug"]
    raw_id_fields = ["participant", "invitation"]
    readonly_fields = ["audience_kind"]


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    list_display = ["participant", "campaign", "version", "agreed_at"]
    list_filter = ["campaign", "version"]
    search_fields = ["participant__user__username", "campaign__slug"]


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ["id", "item", "participant", "audience", "status", "leased_at", "expires_at"]
    list_filter = ["status", "campaign", "audience"]
    search_fields = ["participant__user__username", "item__external_id", "flag_reason"]
    list_select_related = ["item", "participant__user", "audience"]
    show_full_result_count = False


@admin.register(Response)
class ResponseAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "campaign",
        "audience",
        "item",
        "participant",
        "created_at",
        "attention_passed",
        "withdrawn_at",
    ]
    list_filter = ["campaign", "audience", "campaign__item_kind", "attention_passed"]
    search_fields = ["participant__user__username", "item__external_id"]
    list_select_related = ["campaign", "audience", "item", "participant__user"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(Slot)
class SlotAdmin(ReadOnlyAdmin):
    list_display = ["id", "campaign", "audience", "item", "index", "filled", "lease_expires_at"]
    list_filter = ["campaign", "audience", "filled"]
    show_full_result_count = False


@admin.register(AllocationDecision)
class AllocationDecisionAdmin(ReadOnlyAdmin):
    """The allocation log: each decision of adaptive overlap, as the release publishes it."""

    list_display = [
        "item",
        "audience",
        "decided_at",
        "reason",
        "jsd",
        "entropy",
        "votes",
        "k_before",
        "k_after",
    ]
    list_filter = ["campaign", "audience", "reason"]
    list_select_related = ["item", "audience"]
    show_full_result_count = False


@admin.register(Withdrawal)
class WithdrawalAdmin(ReadOnlyAdmin):
    list_display = ["participant", "campaign", "responses_withdrawn", "created_at"]
    list_filter = ["campaign"]
    search_fields = ["participant__user__username"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Keys are created at /account/tokens/ (only a hash is stored); admins can revoke."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = [
        "user",
        "name",
        "prefix",
        "key_hash",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            services.api_token_revoke(user=token.user, token_id=token.pk)


# Conversations (issue #12): read-only evidence, like responses. Settings are changed on
# the campaign's conversations page or through the API, which check the endpoints.


@admin.register(ConversationSettings)
class ConversationSettingsAdmin(ReadOnlyAdmin):
    list_display = ["campaign", "replies_per_turn", "turn_limit", "arena", "tokens_used"]
    list_filter = ["arena"]


class TurnInline(admin.StackedInline):
    model = Turn
    extra = 0
    can_delete = False
    readonly_fields = [
        "index",
        "message",
        "history",
        "replies",
        "shown",
        "judgement",
        "chosen",
        "rationale",
        "edited_text",
        "time_on_task_ms",
        "created_at",
    ]
    exclude = []

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "campaign",
        "audience",
        "item",
        "participant",
        "status",
        "closing_rating",
        "created_at",
        "withdrawn_at",
    ]
    list_filter = ["campaign", "audience", "status", "arena"]
    search_fields = ["participant__user__username", "item__external_id"]
    list_select_related = ["campaign", "audience", "item", "participant__user"]
    inlines = [TurnInline]
    show_full_result_count = False
