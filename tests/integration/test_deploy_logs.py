"""A node on a password-protected Redis never writes the password to its output."""

from __future__ import annotations

import secrets
import time

import httpx
import redis

from tests.support.processes import redis_process, service_process


def test_the_redis_password_stays_out_of_the_logs() -> None:
    password = f"pw-{secrets.token_hex(8)}"
    with redis_process() as server:
        with redis.Redis(port=server.port) as admin:
            admin.config_set("requirepass", password)
        url = f"redis://:{password}@127.0.0.1:{server.port}/0"
        # Debug logging and a lost Redis: every line that could name the server is written.
        with service_process(url, env={"BREAKING_LOG_LEVEL": "debug"}) as node:
            # Ready means subscribed, so the node did sign in with the password.
            assert httpx.get(f"{node.url}/readyz").status_code == 200
            server.stop()
            deadline = time.monotonic() + 10
            while httpx.get(f"{node.url}/readyz").status_code == 200:
                assert time.monotonic() < deadline, "the node did not notice Redis go"
                time.sleep(0.05)
            output = node.output()
    assert f"with Redis at redis://:***@127.0.0.1:{server.port}/0" in output
    assert password not in output
