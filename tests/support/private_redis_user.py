"""A process that uses a data directory's private Redis, for the sharing tests.

python -m tests.support.private_redis_user DATA_DIR hold    # claim, print JSON, wait for EOF
python -m tests.support.private_redis_user DATA_DIR incr N  # N times: claim, INCR, release
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import redis

from mamfast.config import Settings
from mamfast.ops.private_redis import claimed

COUNTER = "test:counter"


def main() -> int:
    data_dir, mode, *rest = sys.argv[1:]
    settings = Settings(_env_file=None, data_dir=Path(data_dir))  # type: ignore[call-arg]
    if mode == "hold":
        with claimed(settings) as url:
            client = redis.Redis.from_url(url or "")
            print(json.dumps({"url": url, "server_pid": client.info("server")["process_id"]}))
            sys.stdout.flush()
            sys.stdin.read()  # until the test closes our stdin (or kills us)
        return 0
    for _ in range(int(rest[0])):
        with claimed(settings) as url:
            redis.Redis.from_url(url or "").incr(COUNTER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
