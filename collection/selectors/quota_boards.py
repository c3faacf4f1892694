"""The engine's quotas of a campaign as the researcher's pages show them: for each
public audience with targets, each attribute value's places (the one rule,
`collection.quotas`) against the slots its members hold, filled or leased, live."""

from __future__ import annotations

from datetime import datetime

from django.urls import reverse

from collection import quotas
from collection.models import Audience, Campaign
from collection.selectors.slot_counts import slots_held_by_group


def engine_quota_boards(campaign: Campaign, now: datetime) -> list[quotas.QuotaBoard]:
    boards = []
    targets = campaign.targets.select_related("audience").order_by("audience__slug")
    for target in targets:
        audience = target.audience
        if audience.kind != Audience.Kind.PUBLIC or not audience.target_marginals:
            continue
        held = slots_held_by_group(campaign=campaign, audience=audience, now=now)
        quota = quotas.quota_for(
            places=held.slots, target_marginals=audience.target_marginals, cells=()
        )
        schema = {a["name"]: a for a in audience.attribute_schema}
        rows = []
        for name, by_value in quota.values.items():
            attribute = schema.get(name, {})
            label = attribute.get("label") or name
            rank = {value: n for n, value in enumerate(attribute.get("choices", []))}
            # The schema's order (65+ after 45-64), not the order jsonb keeps keys in.
            for value in sorted(by_value, key=lambda v: (rank.get(v, len(rank)), v)):
                rows.append(
                    quotas.QuotaRow(
                        label=f"{label} {value}",
                        places=by_value[value],
                        held=held.by_group.get((name, value), 0),
                        filled=held.filled_by_group.get((name, value), 0),
                        target_share=audience.target_marginals[name][value],
                    )
                )
        state = quotas.release_state(target.quota_release_at, now)
        boards.append(
            quotas.QuotaBoard(
                kind="engine",
                title="Campaign slots",
                audience=audience.name,
                unit="slots",
                total=quotas.QuotaRow(
                    label="All slots", places=held.slots, held=held.held, filled=held.filled
                ),
                rows=tuple(rows),
                state=state,
                released_at=target.quota_release_at,
                release_url=""
                if state == quotas.RELEASED
                else reverse(
                    "workbench:campaign_release_quotas", args=[campaign.slug, audience.slug]
                ),
            )
        )
    return boards
