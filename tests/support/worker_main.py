"""A worker process with the instrumented stages, for kill and restart tests.

    python -m tests.support.worker_main QUEUE [QUEUE...]

Settings come from MAMFAST_* variables set by the test.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from mamfast.config import load_settings
from mamfast.engine import keys
from tests.support.engine_stages import instrumented_pipeline
from workers.serve import serve


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(message)s")
    queues = [keys.QUEUES[q] for q in sys.argv[1:]] or [keys.DEFAULT_QUEUE]
    settings = load_settings()
    return asyncio.run(serve(settings, queues, stages=instrumented_pipeline()))


if __name__ == "__main__":
    sys.exit(main())
