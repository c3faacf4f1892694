"""What the coverage dashboard and a researcher's campaign page show, and how it stays fast.

Presentation only: the boards are built from `aggregation.monitoring.selectors`, and
building one never writes to the database (the periodic check in
`aggregation.monitoring.services` does). Two kinds of numbers, from two places:

- metrics (items at k, responses and participants as a release counts them,
  observed against target shares, the busiest participants, Krippendorff's α)
  come from `release.pipeline.campaign_metrics`, the one metric entry point. Computing
  them reads every judgement, so they are stored in a `MetricsSnapshot` by the
  periodic alert check (`monitoring.services.alerts_check_all`) and read from
  there. A page computes them on view, without storing them, only for a small
  campaign whose snapshot is older than `SNAPSHOT_MAX_AGE`, which keeps the demo
  and young campaigns current while a campaign of a million responses is never
  computed on a request. Such a page lists the alerts its numbers find (as the
  next check will record them), so its highlights and its alert list agree;
- live counts: slots filled and leased (a GROUP BY over the campaign's slots)
  and responses per day (the check stores the days it counted; a page adds
  the responses that came in since, read from the campaign's time index).

A built campaign board (its numbers and the description of its charts) is
kept in Django's cache for `BOARD_CACHE_SECONDS`, and metrics computed on view
for `SNAPSHOT_MAX_AGE`; charts are drawn when the browser fetches them and cached
by a hash of their numbers (`chart_svg`).

Modules: ``boards`` (the dataclasses a board is made of), ``build`` (building boards,
the inline-metrics rule (``build.INLINE_LIMIT``), chart caching; ``campaign_board``,
``dashboard_boards``, ``dashboard_alerts``, ``chart_svg``; ``with_live_quotas`` adds the
engine's and panels' quotas, read live).
"""

from aggregation.dashboard.boards import (
    Agreement,
    AttributeCoverage,
    AudienceBoard,
    CampaignBoard,
    Dominant,
    Stratum,
)
from aggregation.dashboard.build import (
    AGREEMENT_LEVELS,
    CHART_CACHE_SECONDS,
    KIND_ORDER,
    SNAPSHOT_MAX_AGE,
    campaign_board,
    chart_svg,
    dashboard_alerts,
    dashboard_boards,
    with_live_quotas,
)

__all__ = [
    "AGREEMENT_LEVELS",
    "CHART_CACHE_SECONDS",
    "KIND_ORDER",
    "SNAPSHOT_MAX_AGE",
    "Agreement",
    "AttributeCoverage",
    "AudienceBoard",
    "CampaignBoard",
    "Dominant",
    "Stratum",
    "campaign_board",
    "chart_svg",
    "dashboard_alerts",
    "dashboard_boards",
    "with_live_quotas",
]
