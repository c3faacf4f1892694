"""Stop the embedded PostgreSQL under var/pg (`make stop`), whatever stopped runserver.

pgserver stops its server only when the last process on its list of users cleans up,
so a runserver killed other than by Ctrl-C leaves a stale entry and
`pgserver.get_server(...).cleanup()` silently does nothing. This asks the server's own
`pg_ctl` to stop, then clears the list.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.database import embedded_data_dir  # noqa: E402


def main() -> int:
    data_dir = embedded_data_dir(ROOT)
    if not (data_dir / "PG_VERSION").exists():
        print(f"No embedded PostgreSQL in {data_dir}: nothing to stop.")
        return 0
    from pgserver._commands import pg_ctl
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir)
    if info is not None and info.is_running():
        # pgserver runs the server as its own user when started by root; pg_ctl
        # refuses to run as root.
        user = "pgserver" if os.geteuid() == 0 else None
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=user, timeout=60)
        print(f"Stopped the embedded PostgreSQL in {data_dir}.")
    else:
        print(f"The embedded PostgreSQL in {data_dir} was not running.")
    # The list of processes using the server; stale once the server is down.
    (data_dir / ".handle_pids.json").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
