"""Private replicated Redis: replicas of a primary, and Sentinel deployments, each ended by pid."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from tests.support.processes import RedisProcess, redis_server_binary, wait_until

MASTER = "mymaster"
DATA_PASSWORD = "data-s3cret-pw"
SENTINEL_PASSWORD = "sentinel-s3cret-pw"
# A primary silent this long is down; with three Sentinels on one machine a failover then
# takes a second or two more (election, promotion, replicas pointed at the new primary).
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


@dataclass
class SentinelProcess(RedisProcess):
    """`redis-server sentinel.conf --sentinel` watching `primary` under the name MASTER."""

    primary_port: int = 0
    quorum: int = 2

    def start(self, *, appendonly: bool = False) -> None:
        # Sentinel rewrites its configuration file as it learns: one of its own, in its dir.
        config = self.dir / "sentinel.conf"
        config.write_text(
            "\n".join(
                [
                    f"port {self.port}",
                    "bind 127.0.0.1",
                    f"dir {self.dir}",
                    f"requirepass {self.password}",
                    f"sentinel monitor {MASTER} 127.0.0.1 {self.primary_port} {self.quorum}",
                    f"sentinel auth-pass {MASTER} {DATA_PASSWORD}",
                    f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}",
                    f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}",
                    "",
                ]
            )
        )
        self._run([redis_server_binary(), str(config), "--sentinel"])

    def master_port(self) -> int | None:
        """The primary's port as this Sentinel names it now."""
        reply = self.command("SENTINEL", "get-master-addr-by-name", MASTER)
        lines = reply.decode().split("\r\n")
        return int(lines[4]) if len(lines) > 4 and lines[4].isdigit() else None

    def field(self, name: str) -> str:
        """One field of `SENTINEL MASTER`: what this Sentinel knows of the primary."""
        lines = self.command("SENTINEL", "MASTER", MASTER).decode().split("\r\n")
        values = lines[2::2]
        return dict(zip(values[::2], values[1::2], strict=False)).get(name, "")


@dataclass
class SentinelSet:
    """Servers (the first starts as primary, the rest replicate it) and their Sentinels."""

    servers: list[RedisProcess] = field(default_factory=list)
    sentinels: list[SentinelProcess] = field(default_factory=list)

    def settings(self) -> dict[str, str]:
        """The Sentinels, their password and the data password, as Settings' keywords."""
        return {
            "redis_sentinels": ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels),
            "redis_sentinel_master": MASTER,
            "redis_sentinel_password": SENTINEL_PASSWORD,
            "redis_url": f"redis://:{DATA_PASSWORD}@/0",
        }

    def env(self) -> dict[str, str]:
        """The same as a node's environment."""
        return {f"BREAKING_{name.upper()}": value for name, value in self.settings().items()}

    def primary(self) -> RedisProcess:
        """The server every Sentinel names as primary now."""
        ports = {sentinel.master_port() for sentinel in self.sentinels if sentinel.proc}
        (port,) = ports
        return next(server for server in self.servers if server.port == port)

    def replicas(self) -> list[RedisProcess]:
        primary = self.primary()
        return [server for server in self.servers if server is not primary and server.proc]

    def wait_for_failover(self, old: RedisProcess, within: float = 30) -> RedisProcess:
        """Wait until every Sentinel names a primary other than `old`; return it."""

        def moved() -> bool:
            ports = {sentinel.master_port() for sentinel in self.sentinels}
            return len(ports) == 1 and None not in ports and old.port not in ports

        wait_until(moved, within, "a failover")
        return self.primary()


def _replicas_online(primary: RedisProcess, count: int) -> bool:
    info = primary.command("INFO", "replication").decode()
    return info.count("state=online") >= count


def _replica_args(primary: RedisProcess) -> tuple[str, ...]:
    # Redis 7 waits 5 s for more replicas before a diskless full sync by default.
    primary.command("CONFIG", "SET", "repl-diskless-sync-delay", "0")
    return ("--replicaof", "127.0.0.1", str(primary.port))


@contextmanager
def replica_process(primary: RedisProcess) -> Iterator[RedisProcess]:
    """A replica of `primary`, in sync when the block starts, ended by pid when it ends."""
    online = primary.command("INFO", "replication").decode().count("state=online")
    replica = RedisProcess(password=primary.password, options=_replica_args(primary))
    replica.start()
    try:
        wait_until(lambda: _replicas_online(primary, online + 1), 15, "the replica in sync")
        yield replica
    finally:
        replica.stop()
        shutil.rmtree(replica.dir, ignore_errors=True)


@contextmanager
def sentinel_set(replicas: int = 2, sentinels: int = 3) -> Iterator[SentinelSet]:
    """A primary with `replicas` replicas in sync and `sentinels` Sentinels that know them
    all and each other, so that a failover can start at once; every process ended by pid."""
    deployment = SentinelSet()
    with ExitStack() as stack:
        for index in range(replicas + 1):
            # Any of them may be primary after a failover and serve a full sync.
            args: tuple[str, ...] = ("--repl-diskless-sync-delay", "0")
            args += _replica_args(deployment.servers[0]) if index else ()
            server = RedisProcess(password=DATA_PASSWORD, options=args)
            stack.callback(shutil.rmtree, server.dir, ignore_errors=True)
            stack.callback(server.stop)
            server.start()
            deployment.servers.append(server)
        primary = deployment.servers[0]
        wait_until(lambda: _replicas_online(primary, replicas), 15, "replicas in sync")
        for _ in range(sentinels):
            sentinel = SentinelProcess(password=SENTINEL_PASSWORD, primary_port=primary.port)
            stack.callback(shutil.rmtree, sentinel.dir, ignore_errors=True)
            stack.callback(sentinel.stop)
            sentinel.start()
            deployment.sentinels.append(sentinel)
        wait_until(lambda: _acquainted(deployment, replicas), 20, "Sentinels that know all")
        yield deployment


def _acquainted(deployment: SentinelSet, replicas: int) -> bool:
    """Every Sentinel knows the replicas and the other Sentinels (hellos come every 2 s)."""
    others = str(len(deployment.sentinels) - 1)
    return all(
        sentinel.field("num-slaves") == str(replicas)
        and sentinel.field("num-other-sentinels") == others
        for sentinel in deployment.sentinels
    )
