"""A private Redis Cluster: redis-server processes in cluster mode joined by `redis-cli --cluster
create`, each ended by its pid."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from tests.support.processes import RedisProcess, free_port, redis_process, wait_until


def _bulk(reply: bytes) -> str:
    """The text of a RESP bulk-string reply (`$<length>\\r\\n<text>\\r\\n`)."""
    _, _, body = reply.partition(b"\r\n")
    return body.decode().rstrip("\r\n")


@dataclass
class ClusterProcesses:
    """The cluster's nodes; `url` names one of them, as BREAKING_REDIS_URL does."""

    nodes: list[RedisProcess]
    node_timeout_ms: int

    @property
    def url(self) -> str:
        return self.nodes[0].url

    @property
    def alive(self) -> list[RedisProcess]:
        return [node for node in self.nodes if node.proc is not None]

    def slot(self, key: str) -> int:
        reply = self.alive[0].command("CLUSTER", "KEYSLOT", key)
        return int(reply.strip().lstrip(b":"))

    def primaries(self) -> list[tuple[RedisProcess, list[range]]]:
        """The live primaries and the slots each serves, as a live node sees the cluster now."""
        by_port = {node.port: node for node in self.nodes}
        serving: list[tuple[RedisProcess, list[range]]] = []
        for line in _bulk(self.alive[0].command("CLUSTER", "NODES")).splitlines():
            _, address, flags, *_, state = line.split()[:8]
            if "master" not in flags.split(",") or "fail" in flags or state != "connected":
                continue
            slots = []
            for bounds in line.split()[8:]:
                low, _, high = bounds.partition("-")
                if low.isdigit():
                    slots.append(range(int(low), int(high or low) + 1))
            serving.append((by_port[int(address.split("@")[0].rsplit(":", 1)[1])], slots))
        return serving

    def primary_of(self, key: str) -> RedisProcess:
        """The live primary serving `key`'s slot."""
        slot = self.slot(key)
        for node, slots in self.primaries():
            if any(slot in r for r in slots):
                return node
        raise LookupError(f"no live primary serves slot {slot}")

    def replica_of(self, primary: RedisProcess, within: float = 15) -> RedisProcess:
        """A replica of `primary` in sync with it, as the primary itself reports (the other
        nodes may not have heard yet which nodes are replicas); waits for one to be."""
        by_port = {node.port: node for node in self.alive}
        online: list[RedisProcess] = []

        def found() -> bool:
            for line in _bulk(primary.command("INFO", "replication")).splitlines():
                if line.startswith("slave") and "state=online" in line:
                    fields = dict(f.split("=", 1) for f in line.split(":", 1)[1].split(","))
                    online.append(by_port[int(fields["port"])])
                    return True
            return False

        wait_until(found, within, f"a replica of the primary on {primary.port} to be in sync")
        return online[0]

    @contextmanager
    def spare_replica(self, primary: RedisProcess) -> Iterator[RedisProcess]:
        """One more node, joined as a replica of `primary`, in sync when the block starts and
        ended by pid when it ends: after a failover the promoted replica still has one."""
        primary_id = _bulk(primary.command("CLUSTER", "MYID"))
        with redis_process(options=_options(self.node_timeout_ms)) as spare:
            self.nodes.append(spare)
            try:
                bus = primary.options[primary.options.index("--cluster-port") + 1]
                spare.command("CLUSTER", "MEET", "127.0.0.1", str(primary.port), bus)
                # The new node must have heard of the primary before it can replicate it.
                wait_until(
                    lambda: primary_id.encode() in spare.command("CLUSTER", "NODES"),
                    15,
                    "the spare node to meet the cluster",
                )
                spare.command("CLUSTER", "REPLICATE", primary_id)
                self.wait_healthy()
                yield spare
            finally:
                self.nodes.remove(spare)

    def move_slot(self, key: str, target: RedisProcess) -> None:
        """Migrate `key`'s slot, keys and all, to the primary `target`, as `redis-cli --cluster
        reshard` does (IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE on every primary)."""
        # Imported here: the conftest loads this module in the client-only virtualenv too
        # (tests/client/test_distribution.py), which has no redis-py.
        from redis import Redis

        source, slot = self.primary_of(key), self.slot(key)
        with Redis(port=source.port) as src, Redis(port=target.port) as dst:
            src_id, dst_id = src.cluster("MYID"), dst.cluster("MYID")
            dst.cluster("SETSLOT", slot, "IMPORTING", src_id)
            src.cluster("SETSLOT", slot, "MIGRATING", dst_id)
            while keys := src.cluster("GETKEYSINSLOT", slot, 100):
                src.migrate("127.0.0.1", target.port, keys, 0, 5000)
            # The importing node first, so the slot is never left without an owner.
            for node in (target, source, *(primary for primary, _ in self.primaries())):
                with Redis(port=node.port) as other:
                    other.cluster("SETSLOT", slot, "NODE", dst_id)

    def healthy(self) -> bool:
        """Every live node sees the cluster up (all slots served), and every replica has its
        primary's data: one that never synced refuses to take over."""
        try:
            infos = [_bulk(node.command("CLUSTER", "INFO")) for node in self.alive]
            links = [_bulk(node.command("INFO", "replication")) for node in self.alive]
        except OSError:
            return False
        replicas = [info for info in links if "role:slave" in info]
        return all("cluster_state:ok" in info for info in infos) and all(
            "master_link_status:up" in info for info in replicas
        )

    def wait_healthy(self, within: float = 30) -> None:
        deadline = time.monotonic() + within
        while not self.healthy():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the cluster is not up after {within}s")
            time.sleep(0.05)


def _options(node_timeout_ms: int) -> tuple[str, ...]:
    """A cluster node's redis-server options."""
    options: tuple[str, ...] = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
    options += ("--cluster-node-timeout", str(node_timeout_ms))
    # A replica's first sync starts at once, not after the default 5 s wait for more replicas.
    options += ("--repl-diskless-sync-delay", "0")
    # The cluster bus port is given, not left at port + 10000, which may be past 65535.
    return (*options, "--cluster-port", str(free_port()))


@contextmanager
def cluster_processes(
    primaries: int = 3, replicas: int = 0, node_timeout_ms: int = 5000
) -> Iterator[ClusterProcesses]:
    """Start `primaries * (1 + replicas)` cluster nodes on free ports, join them, and end
    every one by pid when the block ends."""
    if shutil.which("redis-cli") is None:
        raise RuntimeError("redis-cli is not installed: run `make redis-server`")
    with ExitStack() as stack:
        nodes = [
            stack.enter_context(redis_process(options=_options(node_timeout_ms)))
            for _ in range(primaries * (1 + replicas))
        ]
        create = ["redis-cli", "--cluster", "create"]
        create += [f"127.0.0.1:{node.port}" for node in nodes]
        subprocess.run(
            [*create, "--cluster-replicas", str(replicas), "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        cluster = ClusterProcesses(nodes, node_timeout_ms)
        cluster.wait_healthy()
        yield cluster
