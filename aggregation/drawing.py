"""matplotlib's settings, one drawing at a time.

rcParams are process-global and ``matplotlib.rc_context`` is not thread-safe: two
threads whose contexts overlap each restore what the other had set. A web server
that drew two dashboard charts at once (a browser fetches them together) left the
dashboard's style behind for good, and the dataset card's plots drawn after it in the
same process came out in that style: other PNG bytes than a fresh process gives
(tests/aggregation/test_release_bytes.py failed after a browser test). So every
drawing takes this lock, starts from matplotlib's own defaults (its rc file, as a
fresh process has them) and applies only its own settings.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import matplotlib

matplotlib.use("Agg")

_LOCK = threading.RLock()


@contextmanager
def style(rc: Mapping | None = None) -> Iterator[None]:
    """Draw under matplotlib's file defaults plus ``rc``, alone in this process."""
    with _LOCK, matplotlib.rc_context():
        matplotlib.rc_file_defaults()
        matplotlib.rcParams.update(rc or {})
        yield
