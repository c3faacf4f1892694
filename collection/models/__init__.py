"""Audiences, participants, campaigns, items, assignments and responses.

Invariants that can live in the database do (see each model's Meta); the rest
are held by `collection.services` under row locks.

One module per concern; every model is re-exported here, so ``collection.models.Item``
and the migrations are unchanged:

- ``audiences``: Audience, Participant, Withdrawal, Invitation, Membership, JoinedVia;
- ``campaigns``: Campaign, CampaignAudience, Consent;
- ``items``: Item;
- ``engine``: Slot, Assignment, Response;
- ``tokens``: ApiToken;
- ``conversations``: ConversationSettings, Conversation, Turn (issue #12);
- ``rows``: model instances from hand-written SQL rows (not a model);
- ``adaptive``: AdaptiveOverlap, AllocationDecision (adaptive overlap, issue #15).
"""

from collection.models.adaptive import AdaptiveOverlap, AllocationDecision
from collection.models.audiences import (
    Audience,
    Invitation,
    JoinedVia,
    Membership,
    Participant,
    Withdrawal,
)
from collection.models.campaigns import Campaign, CampaignAudience, Consent
from collection.models.conversations import Conversation, ConversationSettings, Turn
from collection.models.engine import Assignment, Response, Slot
from collection.models.items import Item
from collection.models.tokens import ApiToken

__all__ = [
    "AdaptiveOverlap",
    "AllocationDecision",
    "ApiToken",
    "Assignment",
    "Audience",
    "Campaign",
    "CampaignAudience",
    "Consent",
    "Conversation",
    "ConversationSettings",
    "Invitation",
    "Item",
    "JoinedVia",
    "Membership",
    "Participant",
    "Response",
    "Slot",
    "Turn",
    "Withdrawal",
]
