"""Conversation pages: the annotator's chat, their own conversations, the researcher's.

Who sees what is `collection.permissions`: the chat pages need a campaign open to the
participant (`campaigns_open_to`); a conversation is shown to its person and its
campaign's researchers (`conversations_visible_to`); anything else is a 404. The
annotator's pages never name an endpoint; the researcher's do.

Asking for replies is one POST (`conversation_ask`): a script on the page sends it with
``Accept: text/event-stream`` and shows the replies as they stream; without the script
the same form posts, the page waits for every reply, and comes back with them.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from collection import conversations as conversation_writes
from collection import selectors as collection_selectors
from collection import services as collection_services
from collection.kinds.conversation import closing_scale
from collection.models import Campaign, Participant
from collection.models.conversations import MAX_MESSAGE_CHARS, Conversation
from collection.permissions import campaigns_managed_by, campaigns_open_to, is_researcher
from collection.services import ServiceError
from collection.throttles import ConversationAskThrottle
from endpoints.conversations import runtime, selectors, services
from endpoints.conversations.forms import SettingsForm, judgement_from
from endpoints.selectors import endpoints_usable_by


def _participant(request: HttpRequest) -> Participant:
    return collection_services.participant_get_or_create(user=request.user)


# These are the conversation kind's own pages (its `annotate_url_name`), so they name that
# kind; both `_campaign` and `_managed` refuse campaigns of any other.
def _campaign(participant: Participant, slug: str) -> Campaign:
    campaign = campaigns_open_to(participant.user).filter(slug=slug).first()
    if campaign is None or campaign.item_kind != Campaign.ItemKind.CONVERSATION:
        raise Http404("This campaign is not open to your audiences.")
    return campaign


def _own_open(participant: Participant, campaign: Campaign, conversation_id) -> Conversation:
    conversation = selectors.conversation_open_for(participant=participant, campaign=campaign)
    if conversation is None or str(conversation.pk) != str(conversation_id):
        raise Http404("This conversation is not open.")
    return conversation


TOO_MANY_ASKS = "You have sent many messages in a short time; please wait a while."


def _page(slug: str) -> HttpResponse:
    return redirect("conversation_page", slug)


def _shown_replies(pending: dict | None) -> list[dict]:
    """The pending replies in the order shown, each with its position and a status."""
    if not pending:
        return []
    by_id = {reply["id"]: reply for reply in pending["replies"]}
    rows = []
    for position, reply_id in enumerate(pending["order"], start=1):
        reply = by_id[reply_id]
        rows.append(
            {
                "position": position,
                "id": reply_id,
                "text": reply["text"],
                "truncated": reply.get("truncated", False),
                "failed": bool(reply["error"]),
                "failure": runtime.failure_sentence(reply["error"]) if reply["error"] else "",
            }
        )
    return rows


# The annotator's chat -----------------------------------------------------------------


@login_required
def conversation_page(request: HttpRequest, slug: str, *, status: int = 200, errors=None):
    participant = _participant(request)
    campaign = _campaign(participant, slug)
    setup = selectors.settings_for(campaign=campaign)
    conversation = selectors.conversation_open_for(participant=participant, campaign=campaign)
    turns = selectors.turns_of(conversation=conversation) if conversation else []
    limit = setup.turn_limit if setup else 0
    pending = conversation.pending if conversation else None
    replies = _shown_replies(pending)
    low, high = closing_scale(campaign)
    item = conversation.item if conversation else None
    opening = ""
    if item is not None and not turns and not pending:
        free = conversation.arena or item.payload.get("opening") == "free"
        opening = "" if free else item.prompt
    context = {
        "campaign": campaign,
        "setup": setup,
        "conversation": conversation,
        "item": item,
        "free_opening": bool(
            item and (conversation.arena or item.payload.get("opening") == "free")
        ),
        "turns": turns,
        "turn_number": len(turns) + 1,
        "turn_limit": limit,
        "at_limit": bool(conversation and len(turns) >= limit),
        "pending": pending,
        "replies": replies,
        "shown": [row for row in replies if not row["failed"]],
        "can_judge": bool(pending and len(pending.get("shown", [])) >= 2),
        "format": campaign.preference_format,
        "rating_range": range(low, high + 1),
        "opening": opening,
        "max_message": MAX_MESSAGE_CHARS,
        "closed": selectors.conversations_closed_count(participant=participant, campaign=campaign),
        "lost": None
        if conversation
        else selectors.conversation_lost_by(participant=participant, campaign=campaign),
        "cap": campaign.per_participant_cap,
        "errors": errors or {},
        "posted": request.POST if status != 200 else {},
    }
    return render(request, "endpoints/conversations/chat.html", context, status=status)


@login_required
@require_POST
def conversation_start(request: HttpRequest, slug: str) -> HttpResponse:
    participant = _participant(request)
    campaign = _campaign(participant, slug)
    here = reverse("conversation_page", args=[slug])
    try:
        started = services.conversation_begin(participant=participant, campaign=campaign)
    except collection_services.ConsentRequired:
        return redirect(f"{reverse('consent', args=[slug])}?next={here}")
    except collection_services.ProfileRequired:
        membership = next(
            m
            for m in collection_selectors.memberships_for_campaign(
                participant=participant, campaign=campaign
            )
            if not m.profile_complete
        )
        return redirect(f"{reverse('profile', args=[membership.audience.slug])}?next={here}")
    except ServiceError as error:
        messages.error(request, error.message)
        return _page(slug)
    if isinstance(started, collection_services.NoItem):
        messages.info(request, started.reason)
    return _page(slug)


def _sse(events):
    for event in events:
        name = event.pop("event")
        if name == "keepalive":
            yield ": keepalive\n\n"
            continue
        yield f"event: {name}\ndata: {json.dumps(event)}\n\n"


def _conversation_id(request: HttpRequest) -> int:
    try:
        return int(request.POST.get("conversation", ""))
    except ValueError:
        raise Http404("This conversation is not open.") from None


@login_required
@require_POST
def conversation_ask(request: HttpRequest, slug: str) -> HttpResponse:
    """Ask for this turn's replies (or, with ``action=retry``, again for the failed ones).

    The service reads and checks the conversation itself (one read, not one here and
    one there); a conversation not the participant's in this campaign is a 404."""
    participant = _participant(request)
    campaign = _campaign(participant, slug)
    if not ConversationAskThrottle().allow_request(request, None):
        events = iter([{"event": "error", "message": TOO_MANY_ASKS}])
    else:
        try:
            events = services.turn_ask(
                participant=participant,
                conversation=_conversation_id(request),
                campaign=campaign,
                message=request.POST.get("message", ""),
                retry=request.POST.get("action") == "retry",
            )
        except collection_services.NotFound:
            raise Http404("This conversation is not open.") from None
    if "text/event-stream" in request.headers.get("Accept", ""):
        response = StreamingHttpResponse(_sse(events), content_type="text/event-stream")
        response["Cache-Control"] = "no-store"
        response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
        return response
    for event in events:
        if event["event"] == "error":
            messages.error(request, event["message"])
        elif event["event"] == "done" and event["message"]:
            messages.warning(request, event["message"])
    return _page(slug)


@login_required
@require_POST
def conversation_judge(request: HttpRequest, slug: str) -> HttpResponse:
    """Save the turn; the service checks the conversation (and that the form judged the
    replies shown) under its lock, so the page does not read it first."""
    participant = _participant(request)
    campaign = _campaign(participant, slug)
    try:
        turn = conversation_writes.turn_save(
            participant=participant,
            conversation_id=_conversation_id(request),
            campaign=campaign,
            token=request.POST.get("token", ""),
            judgement=judgement_from(request.POST, campaign=campaign),
            rationale=request.POST.get("rationale", ""),
            edited_text=request.POST.get("edited_text", ""),
        )
    except collection_services.NotFound:
        raise Http404("This conversation is not open.") from None
    except collection_services.Conflict as error:
        messages.warning(request, error.message)
        return _page(slug)
    except ServiceError as error:
        field = (error.field or "judgement").split(".")[0]
        return conversation_page(request, slug, status=400, errors={field: error.message})
    setup = conversation_writes.conversation_settings(turn.conversation)
    if setup is not None and turn.index + 1 >= setup.turn_limit:
        messages.success(request, "Saved. That was the last turn: rate the conversation.")
    else:
        messages.success(request, "Saved. Write your next message.")
    return _page(slug)


@login_required
@require_POST
def conversation_discard(request: HttpRequest, slug: str) -> HttpResponse:
    participant = _participant(request)
    campaign = _campaign(participant, slug)
    conversation = _own_open(participant, campaign, request.POST.get("conversation"))
    try:
        services.turn_discard(participant=participant, conversation=conversation)
    except ServiceError as error:
        messages.warning(request, error.message)
    return _page(slug)


@login_required
@require_POST
def conversation_end(request: HttpRequest, slug: str) -> HttpResponse:
    participant = _participant(request)
    campaign = _campaign(participant, slug)
    try:
        conversation_writes.conversation_close(
            participant=participant,
            conversation_id=_conversation_id(request),
            campaign=campaign,
            rating=request.POST.get("rating", ""),
            rationale=request.POST.get("closing_rationale", ""),
        )
    except collection_services.NotFound:
        raise Http404("This conversation is not open.") from None
    except collection_services.Conflict as error:
        messages.warning(request, error.message)
        return _page(slug)
    except ServiceError as error:
        field = "closing_" + (error.field or "rating").split(".")[0]
        return conversation_page(request, slug, status=400, errors={field: error.message})
    messages.success(request, "Thank you: the conversation is saved.")
    return _page(slug)


@login_required
@require_POST
def conversation_skip(request: HttpRequest, slug: str) -> HttpResponse:
    participant = _participant(request)
    campaign = _campaign(participant, slug)
    try:
        conversation_writes.conversation_skip(
            participant=participant, conversation_id=_conversation_id(request), campaign=campaign
        )
    except collection_services.NotFound:
        raise Http404("This conversation is not open.") from None
    except ServiceError as error:
        messages.warning(request, error.message)
    else:
        messages.info(request, "Skipped: this conversation has ended and its turns are not used.")
    return _page(slug)


# Seeing and deleting conversations ------------------------------------------------------


@login_required
def my_conversations(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "endpoints/conversations/mine.html",
        {"conversations": selectors.conversations_of_person(user=request.user)},
    )


@login_required
def conversation_detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = selectors.conversation_visible(
        user=request.user, conversation_id=conversation_id
    )
    if conversation is None:
        raise Http404("No such conversation.")
    own = conversation.participant.user_id == request.user.pk
    turns = selectors.turns_of(conversation=conversation)
    rows = []
    for turn in turns:
        replies = [turn.reply(reply_id) for reply_id in turn.shown]
        rank = {}
        if "ranking" in turn.judgement:
            rank = {rid: n for n, rid in enumerate(turn.judgement["ranking"], start=1)}
        rows.append(
            {
                "turn": turn,
                "replies": [
                    {
                        "position": n,
                        "reply": reply,
                        "chosen": reply["id"] == turn.chosen,
                        "rank": rank.get(reply["id"]),
                        "rating": (turn.judgement.get("ratings") or {}).get(reply["id"]),
                    }
                    for n, reply in enumerate(replies, start=1)
                ],
                "failed": [r for r in turn.replies if r["error"]],
            }
        )
    return render(
        request,
        "endpoints/conversations/detail.html",
        {
            "conversation": conversation,
            "rows": rows,
            "own": own,
            # Researchers see which endpoint wrote what; the person never does.
            "show_sources": not own,
        },
    )


@login_required
@require_POST
def conversation_delete(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = selectors.conversation_visible(
        user=request.user, conversation_id=conversation_id
    )
    if conversation is None:
        raise Http404("No such conversation.")
    if conversation.participant.user_id != request.user.pk:
        raise PermissionDenied("Only the person who had this conversation may delete it.")
    conversation_writes.conversation_delete(
        participant=conversation.participant, conversation_id=conversation.pk
    )
    messages.success(
        request, "Deleted: this conversation leaves every later release and nobody sees it."
    )
    return redirect("my_conversations")


# The researcher's pages --------------------------------------------------------------


def _managed(request: HttpRequest, slug: str) -> Campaign:
    if not is_researcher(request.user):
        raise Http404("No such campaign.")
    campaign = campaigns_managed_by(request.user).filter(slug=slug).first()
    if campaign is None or campaign.item_kind != Campaign.ItemKind.CONVERSATION:
        raise Http404("No such conversation campaign.")
    return campaign


@login_required
def campaign_conversations(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = _managed(request, slug)
    setup = selectors.settings_for(campaign=campaign)
    current = list(setup.endpoint_ids) if setup else []
    endpoints = list(endpoints_usable_by(request.user)) + [
        e
        for e in selectors.endpoints_by_id(current).values()
        if e.owner_id != request.user.pk and not request.user.is_staff
    ]
    form = SettingsForm(
        request.POST or None,
        endpoints=endpoints,
        initial={
            "endpoint_ids": current,
            "replies_per_turn": setup.replies_per_turn if setup else 2,
            "turn_limit": setup.turn_limit if setup else 5,
            "arena": setup.arena if setup else False,
            "max_calls_in_flight": setup.max_calls_in_flight if setup else 8,
            "token_budget": setup.token_budget if setup else None,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.conversation_settings_save(
                campaign=campaign, user=request.user, **form.cleaned_data
            )
        except ServiceError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, "Settings saved.")
            return redirect("campaign_conversations", slug)
    return render(
        request,
        "endpoints/conversations/campaign.html",
        {
            "campaign": campaign,
            "setup": setup,
            "form": form,
            "conversations": selectors.conversations_of_campaign(
                user=request.user, campaign=campaign
            )[:200],
            "status": 400 if form.errors else 200,
        },
        status=400 if form.errors else 200,
    )
