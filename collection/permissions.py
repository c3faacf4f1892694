"""Who may do what: roles, and which campaigns and audiences each user can see."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from rest_framework import permissions

from collection.models import Audience, Campaign, Conversation

RESEARCHERS_GROUP = "researchers"


def is_admin(user) -> bool:
    return bool(user and user.is_authenticated and user.is_staff)


def is_researcher(user) -> bool:
    if not (user and user.is_authenticated):
        return False
    return user.is_staff or user.groups.filter(name=RESEARCHERS_GROUP).exists()


def campaigns_managed_by(user) -> QuerySet[Campaign]:
    """Campaigns a researcher owns or was added to; every campaign for an admin."""
    if is_admin(user):
        return Campaign.objects.all()
    if not is_researcher(user):
        return Campaign.objects.none()
    return Campaign.objects.filter(owners=user)


def campaigns_open_to(user) -> QuerySet[Campaign]:
    """Campaigns a user may use as an annotator (consent, annotate, withdraw): aimed at an
    audience they belong to, and not a draft, which is its researchers' until it opens.

    Paused and closed campaigns stay reachable, so their pages can say why there is
    nothing to do, and so people can still withdraw from them.
    """
    return (
        Campaign.objects.exclude(status=Campaign.Status.DRAFT)
        .filter(targets__audience__memberships__participant__user=user)
        .distinct()
    )


def audiences_visible_to(user) -> QuerySet[Audience]:
    """Researchers see every audience except other people's dyads; a dyad is visible
    to its member, the researchers of campaigns that target it, and its creator."""
    if is_admin(user):
        return Audience.objects.all()
    mine = Q(memberships__participant__user=user)
    if is_researcher(user):
        return Audience.objects.filter(
            ~Q(kind=Audience.Kind.DYADIC)
            | mine
            | Q(created_by=user)
            | Q(targets__campaign__owners=user)
        ).distinct()
    return Audience.objects.filter(
        mine | Q(kind=Audience.Kind.MASS) | Q(kind=Audience.Kind.PUBLIC, screened=False)
    ).distinct()


def conversations_visible_to(user) -> QuerySet[Conversation]:
    """A conversation is its person's and its campaign's researchers' (an admin's too),
    whatever the audience: for a dyad, exactly "that person and the campaign's
    researchers". A deleted conversation is nobody's to see."""
    if not (user and user.is_authenticated):
        return Conversation.objects.none()
    visible = Conversation.objects.filter(deleted_at__isnull=True)
    if is_admin(user):
        return visible
    mine = Q(participant__user=user)
    if is_researcher(user):
        return visible.filter(mine | Q(campaign__in=campaigns_managed_by(user)))
    return visible.filter(mine)


def audiences_managed_by(user) -> QuerySet[Audience]:
    """Audiences whose targets, invitations and member list a user may manage: the
    researcher who defined it (other researchers may target it, not change it)."""
    if is_admin(user):
        return Audience.objects.all()
    if not is_researcher(user):
        return Audience.objects.none()
    return Audience.objects.filter(created_by=user)


def roles(request) -> dict:
    """Template context: which parts of the site to offer, by the same rule the pages use."""
    return {"is_researcher": is_researcher(request.user), "is_admin": is_admin(request.user)}


class IsResearcher(permissions.BasePermission):
    message = "Only researchers may do this."

    def has_permission(self, request, view):
        return is_researcher(request.user)
