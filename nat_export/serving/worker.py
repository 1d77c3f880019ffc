"""``python -m nat_export.serving.worker SPEC.json``: the server process ``nat-export serve`` starts in the
serving environment (:mod:`nat_export.serving.env`). It runs :func:`~nat_export.serving.serve.run_server` and
reports failures as ``nat-export serve`` does: one line ``nat-export serve: error: <problem>; <fix>``, exit 1.

It stops on SIGINT (what ``nat-export serve`` passes on at Ctrl-C), and by itself when its parent goes away.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

#: set by ``nat-export serve --debug``: tracebacks instead of one line.
DEBUG_VAR = "NAT_EXPORT_SERVE_DEBUG"


def _watch_parent(parent: int) -> None:
    """SIGINT to this process when the parent that started it is gone (killed without passing the stop on)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGINT)
            return


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m nat_export.serving.worker SPEC.json", file=sys.stderr)
        return 2
    from . import RepositoryError, ServingError
    from .serve import ServeSpec, run_server

    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    try:
        spec = ServeSpec.from_json(Path(argv[0]).read_text())
        return run_server(spec)
    except KeyboardInterrupt:  # stopped before the server was up
        return 0
    except (ServingError, RepositoryError, OSError, ValueError, RuntimeError) as e:
        if os.environ.get(DEBUG_VAR):
            raise
        print(f"nat-export serve: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - a bug: one line, as the CLI reports one
        if os.environ.get(DEBUG_VAR):
            raise
        what = " ".join(str(e).split())[:300]
        print(
            f"nat-export serve: error: unexpected {type(e).__name__}: {what}; run again with --debug for the "
            "traceback, and report it",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
