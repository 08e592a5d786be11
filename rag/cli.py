"""What every command-line entry point shares: one-line errors and exit codes."""
from __future__ import annotations

import logging
import os
import sys
from typing import Callable

from rag.errors import RagError
from rag.offline import EgressBlocked


def run_main(main: Callable[[], int]) -> None:
    """Run `main`; expected failures become one line on stderr and a non-zero exit, never a traceback."""
    logging.basicConfig(level=os.environ.get("RAG_LOG_LEVEL", "WARNING").upper(), format="%(levelname)s: %(message)s")
    try:
        code = main()
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = exc.exit_code
    except EgressBlocked as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    except BrokenPipeError:  # output piped into `head` and the like: not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)
