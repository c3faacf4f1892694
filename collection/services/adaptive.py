"""A campaign's adaptive overlap setting: checked, saved, or turned off.

The pass that acts on it is `aggregation.allocation` (above collection: its rule needs
the divergence of `aggregation.metrics`); this module only keeps the setting valid.
"""

from __future__ import annotations

import dataclasses

from collection.models import AdaptiveOverlap, Campaign
from collection.services.errors import ServiceError


@dataclasses.dataclass(frozen=True)
class AdaptiveSetting:
    max_k: int
    step: int = 2
    rule: str = AdaptiveOverlap.Rule.DIVERGENCE
    jsd_threshold: float = AdaptiveOverlap.DEFAULT_JSD_THRESHOLD
    entropy_threshold: float = AdaptiveOverlap.DEFAULT_ENTROPY_THRESHOLD


def _check(campaign: Campaign, setting: AdaptiveSetting) -> None:
    if campaign.item_kind != Campaign.ItemKind.PREFERENCE:
        raise ServiceError(
            "Adaptive overlap needs votes to compare: only preference campaigns take it.",
            field="adaptive",
        )
    if setting.rule not in AdaptiveOverlap.Rule.values:
        raise ServiceError(
            f"The rule is one of {', '.join(AdaptiveOverlap.Rule.values)}.", field="adaptive.rule"
        )
    if not 1 <= setting.step <= 100:
        raise ServiceError("The step is 1 to 100 slots.", field="adaptive.step")
    if not 2 <= setting.max_k <= 1000:
        raise ServiceError("The maximum k is 2 to 1000.", field="adaptive.max_k")
    for name in ("jsd_threshold", "entropy_threshold"):
        value = getattr(setting, name)
        if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
            raise ServiceError("A threshold lies between 0 and 1.", field=f"adaptive.{name}")
    base = [target.overlap_k for target in campaign.targets.all()]
    if base and setting.max_k <= min(base):
        raise ServiceError(
            f"The maximum k must be above a target's base k ({min(base)}), or nothing "
            "can be added.",
            field="adaptive.max_k",
        )


def campaign_set_adaptive(
    *, campaign: Campaign, setting: AdaptiveSetting | None
) -> AdaptiveOverlap | None:
    """Save the campaign's adaptive overlap (None: turn it off; slots already added stay,
    and so does their log). The caller's transaction covers it (campaign create/update)."""
    if setting is None:
        AdaptiveOverlap.objects.filter(campaign=campaign).delete()
        campaign.adaptive = None  # what the caller's campaign says from now on
        return None
    _check(campaign, setting)
    saved, _ = AdaptiveOverlap.objects.update_or_create(
        campaign=campaign, defaults=dataclasses.asdict(setting) | {"checked_until": None}
    )
    campaign.adaptive = saved
    return saved


def campaign_adaptive_setting(*, campaign: Campaign) -> AdaptiveSetting | None:
    """The campaign's setting as `campaign_set_adaptive` takes it (a duplicate copies it)."""
    saved = AdaptiveOverlap.objects.filter(campaign=campaign).first()
    if saved is None:
        return None
    return AdaptiveSetting(
        **{field.name: getattr(saved, field.name) for field in dataclasses.fields(AdaptiveSetting)}
    )
