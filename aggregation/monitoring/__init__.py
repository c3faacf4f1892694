"""Monitoring: the coverage metrics and alerts the dashboard shows.

`services` writes (the periodic check: metrics snapshots, alert recording), run by
the beat task `aggregation.tasks.coverage_alerts_record` and `manage.py record_alerts`;
`selectors` reads (what the check computes, and what the pages read). A page only
reads: `aggregation.dashboard` builds its boards from `selectors` and never writes.
The rules themselves are pure functions in `aggregation.alerts`.
"""
