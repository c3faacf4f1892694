"""Live conversations judged turn by turn (the ``conversation`` item kind, issue #12).

A conversation campaign's items are *seeds* (`collection/kinds/conversation.py`): an
opening prompt, a situation, persona or system prompt, or a free opening. A participant
is leased a seed by the ordinary engine (`services.assignment_next`: one `Assignment`,
one `Slot`), so k per (seed item, audience) and the per-participant cap count
conversations. The conversation holds that lease while it runs; its closing rating is
the `Response` that fills the slot.

Each `Turn` is saved whole, in one transaction, once the participant has judged it:
their message, every model reply (the ones that failed too), the order the replies were
shown in, the judgement, an optional edit of the chosen reply and the history the models
saw. Until then the replies live in ``Conversation.pending``, which no release reads.

The models sit in collection, below the endpoints app that calls the models
(`endpoints/conversations/`), so they name endpoints by id and by name and hold no
foreign key to `endpoints.ModelEndpoint`.

What a release reads (aggregation, `conversations` datasets): turns of conversations
whose ``withdrawn_at`` is null. Deleting a conversation (its person may) and withdrawing
from the campaign or the platform both set ``withdrawn_at``, so either takes the turns
out of every later release; the closing `Response` is marked withdrawn at the same time.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

MIN_REPLIES, MAX_REPLIES = 2, 4
MAX_TURN_LIMIT = 50
# A model reply is untrusted text: longer replies are cut to this many characters (and
# marked ``truncated``) before they are stored or shown.
MAX_REPLY_CHARS = 20_000
MAX_MESSAGE_CHARS = 20_000  # the participant's message, and an edit


class ConversationSettings(models.Model):
    """A conversation campaign's settings: which endpoints answer, how often, how much.

    The judgement mode is the campaign's ``preference_format`` (pick the best reply,
    rank them, or rate each on the campaign's rating scale), and ``ask_rationale``
    asks for a rationale, as for preference items.
    """

    campaign = models.OneToOneField(
        "collection.Campaign", on_delete=models.CASCADE, related_name="conversation_settings"
    )
    # Ids of `endpoints.ModelEndpoint` rows, checked by `endpoints.conversations.services`
    # (the campaign's researchers' own endpoints); no foreign key, as collection sits
    # below the endpoints app.
    endpoint_ids = models.JSONField(default=list)
    # How many endpoints reply to each message (2 to 4); arena battles always have 2.
    replies_per_turn = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(MIN_REPLIES), MaxValueValidator(MAX_REPLIES)]
    )
    # Most judged turns per conversation; it then asks for the closing rating.
    turn_limit = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(MAX_TURN_LIMIT)]
    )
    # Arena: the participant writes their own prompt, and each conversation (battle) draws
    # two endpoints so that every pair of endpoints gets about as many battles.
    arena = models.BooleanField(default=False)
    # Model calls of this campaign in flight at once, over every web worker.
    max_calls_in_flight = models.PositiveSmallIntegerField(
        default=8, validators=[MinValueValidator(1), MaxValueValidator(256)]
    )
    # Tokens (prompt + completion, as the servers report them) the campaign may spend;
    # empty: no limit. When spent, the campaign is paused with ``paused_reason`` set.
    token_budget = models.BigIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    tokens_used = models.BigIntegerField(default=0)
    paused_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(replies_per_turn__gte=MIN_REPLIES)
                & Q(replies_per_turn__lte=MAX_REPLIES),
                name="conversation_replies_per_turn_2_to_4",
            ),
            models.CheckConstraint(
                condition=Q(arena=False) | Q(replies_per_turn=2),
                name="conversation_arena_has_two_replies",
            ),
            models.CheckConstraint(
                condition=Q(turn_limit__gte=1) & Q(turn_limit__lte=MAX_TURN_LIMIT),
                name="conversation_turn_limit_range",
            ),
        ]

    def __str__(self) -> str:
        return f"conversation settings of campaign {self.campaign_id}"

    @property
    def budget_spent(self) -> bool:
        return self.token_budget is not None and self.tokens_used >= self.token_budget


class Conversation(models.Model):
    """One participant's conversation from one seed item, counted for one audience.

    ``endpoint_ids`` are the endpoints drawn for it: an arena battle's two, fixed for
    every turn; otherwise empty, and each turn draws its own (``Turn.replies``).
    ``pending`` holds the current turn's replies between asking and judging:
    ``{"message", "history", "replies": [...], "shown": [...], "asked_at"}`` in the
    shapes of `Turn`; it is not a turn, and nothing reads it but the conversation page.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed (rated)"
        # Ended without its closing rating: skipped (on the page or through the API's
        # skip), or its lease ran out and its seed's place went to someone else. Its
        # turns are in no release (a release takes closed conversations only); the card
        # counts these.
        ABANDONED = "abandoned", "Abandoned"

    class EndedBy(models.TextChoices):
        PARTICIPANT = "participant", "The participant ended it"
        TURN_LIMIT = "turn_limit", "The turn limit"
        SKIPPED = "skipped", "The participant skipped it"
        EXPIRED = "expired", "Left too long: its place went to someone else"

    campaign = models.ForeignKey(
        "collection.Campaign", on_delete=models.CASCADE, related_name="conversations"
    )
    audience = models.ForeignKey(
        "collection.Audience", on_delete=models.CASCADE, related_name="conversations"
    )
    item = models.ForeignKey(
        "collection.Item", on_delete=models.CASCADE, related_name="conversations"
    )
    participant = models.ForeignKey(
        "collection.Participant", on_delete=models.CASCADE, related_name="conversations"
    )
    # The engine's lease this conversation occupies (its slot); completed on closing.
    assignment = models.OneToOneField(
        "collection.Assignment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversation",
    )
    arena = models.BooleanField(default=False)
    endpoint_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.OPEN)
    pending = models.JSONField(null=True, blank=True)
    # The closing rating of the whole conversation, on the campaign's rating scale
    # (1 to 5 when it has none), and an optional comment; also the closing Response's.
    closing_rating = models.SmallIntegerField(null=True, blank=True)
    closing_comment = models.TextField(blank=True, max_length=5000)
    ended_by = models.CharField(max_length=11, choices=EndedBy.choices, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Set when its person deletes it (``deleted_at`` too) or withdraws: its turns and
    # closing rating leave every later release.
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "item"], name="conversation_once_per_seed"
            ),
            models.CheckConstraint(
                condition=Q(deleted_at__isnull=True) | Q(withdrawn_at__isnull=False),
                name="conversation_deleted_is_withdrawn",
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "audience", "id"], name="conversation_by_target"),
            models.Index(fields=["participant", "-created_at"], name="conversation_by_person"),
        ]

    def __str__(self) -> str:
        return f"conversation {self.pk} on item {self.item_id}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN and self.withdrawn_at is None


class Turn(models.Model):
    """One judged exchange: the participant's message, every reply, and the judgement.

    ``history``: the messages the models saw before ``message`` (the seed's system
    prompt, persona and situation as one system message, the seed's context messages,
    then each earlier turn's message and its continuing reply), as
    ``[{"role", "content"}]``; a DPO row's prompt is ``history + [user: message]``.

    ``replies``: every endpoint asked, in the order asked, as
    ``{"id": "a".., "endpoint": id, "source": name, "model": id, "params": {},
    "text": str, "truncated": bool, "finish_reason": str, "latency_ms": int | None,
    "first_token_ms": int | None, "usage": {} | None, "error": str}``; a reply with an
    ``error`` has no text and was not shown. ``shown``: the ids of the replies shown, in
    the (shuffled) order shown, as "Reply 1", "Reply 2"...

    ``judgement``: in the campaign's format, over the shown ids:
    ``{"choice": id}``, ``{"ranking": [ids, best first]}`` or ``{"ratings": {id: n}}``.
    ``chosen`` is the reply that continues the conversation (the choice, the first of the
    ranking, or the highest rated, ties to the one shown first); ``edited_text``, when
    not empty, is the participant's edit of it, which continues instead and is a
    demonstration.
    """

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveSmallIntegerField()  # 0, 1, 2...
    history = models.JSONField(default=list)
    message = models.TextField(max_length=MAX_MESSAGE_CHARS)
    replies = models.JSONField()
    shown = models.JSONField()
    judgement = models.JSONField()
    chosen = models.CharField(max_length=8)
    rationale = models.TextField(blank=True, max_length=5000)
    edited_text = models.TextField(blank=True, max_length=MAX_MESSAGE_CHARS)
    time_on_task_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["conversation_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "index"], name="turn_once_per_index"),
        ]

    def __str__(self) -> str:
        return f"turn {self.index} of conversation {self.conversation_id}"

    def reply(self, reply_id: str) -> dict | None:
        return next((reply for reply in self.replies if reply["id"] == reply_id), None)

    @property
    def continuation(self) -> str:
        """The assistant message the conversation went on with."""
        if self.edited_text:
            return self.edited_text
        reply = self.reply(self.chosen)
        return reply["text"] if reply else ""
