"""The NATS configs of deploy/nats, run for real: the single node, and the 3-node cluster losing a node.

Each config is started as written, except that every port is mapped to a free loopback port (never 4222 or 5432,
where a system NATS and PostgreSQL listen), every host to 127.0.0.1, and store_dir to a temporary directory.
Every process is stopped at the end, pass or fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import nats
import nats.errors
import pytest
from nats.js.api import PubAck, StorageType, StreamConfig

from services.common.ports import RESERVED_PORTS
from services.common.server_log import log_tail
from services.ingest.acks import Acks, Message
from tests.waiting import wait_until

T = TypeVar("T")

NATS_SERVER = Path(sys.executable).parent / "nats-server"
NATS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "nats"
CLUSTER_CONFIGS = [NATS_DIR / f"cluster-node{n}.conf" for n in (1, 2, 3)]
SINGLE_CONFIG = NATS_DIR / "single.conf"

STREAM = "CLUSTER_TEST"
SUBJECT = "cluster.test"
START_TIMEOUT_S = 15.0
READY_TIMEOUT_S = 30.0  # until the cluster has a meta leader and can place a stream of 3 replicas
FAILOVER_TIMEOUT_S = 30.0  # until the stream has a new leader after its leader died

# A port is what follows a colon directly (host:port, nats-route://host:port); "key: value" has a space.
PORT = re.compile(r"(?<=:)(\d{2,5})\b")
STORE_DIR = re.compile(r"^(\s*store_dir\s*[:=]\s*).*$", re.MULTILINE)
SERVER_NAME = re.compile(r"^\s*server_name\s*[:=]\s*\"?([\w-]+)\"?\s*$", re.MULTILINE)


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports: all sockets stay bound until every port is picked."""
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        while len(ports) < count:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
            if port not in RESERVED_PORTS:
                ports.append(port)
        return ports


def config_ports(text: str) -> list[int]:
    """The ports a config uses, in order of first appearance (comments aside)."""
    seen: dict[int, None] = {}
    for match in PORT.finditer(strip_comments(text)):
        seen[int(match.group(1))] = None
    return list(seen)


def strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")) + "\n"


def rewrite(text: str, ports: Mapping[int, int], store_dir: Path) -> str:
    """The config with every port mapped (an unmapped one is an error), all hosts on loopback, store_dir moved."""

    def swap(match: re.Match[str]) -> str:
        port = int(match.group(1))
        if port not in ports:
            raise AssertionError(f"port {port} in the config has no test override")
        return str(ports[port])

    body = PORT.sub(swap, strip_comments(text)).replace("0.0.0.0:", "127.0.0.1:")
    body, found = STORE_DIR.subn(lambda m: m.group(1) + json.dumps(str(store_dir)), body)
    assert found == 1, "want exactly one store_dir"
    assert not set(config_ports(body)) & RESERVED_PORTS
    return body


def server_name(text: str) -> str:
    match = SERVER_NAME.search(text)
    assert match is not None, "the config names its server"
    return match.group(1)


@dataclass
class Node:
    name: str
    client_port: int
    monitor_port: int
    log: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    def monitor(self, endpoint: str) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.monitor_port}/{endpoint}"
        with urllib.request.urlopen(url, timeout=5) as response:
            body: dict[str, Any] = json.load(response)
        return body

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_node(config: Path, ports: Mapping[int, int], workdir: Path) -> Node:
    """One nats-server from `config`, rewritten into `workdir`; returns once it says it is ready (its own log: a
    port that answers may be another process's, which took a free port this test picked)."""
    text = config.read_text()
    original = config_ports(text)
    client_port = ports[original[0]]  # listen comes first in every config
    monitor_port = ports[original[1]]  # then http
    workdir.mkdir(parents=True)
    conf = workdir / config.name
    conf.write_text(rewrite(text, ports, workdir / "store"))
    log = workdir / "nats-server.log"
    with log.open("wb") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [str(NATS_SERVER), "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    node = Node(server_name(text), client_port, monitor_port, log, proc)
    deadline = time.monotonic() + START_TIMEOUT_S
    while b"Server is ready" not in log.read_bytes():
        if proc.poll() is not None:
            raise AssertionError(f"{config.name}: nats-server exited with {proc.returncode}:\n{log_tail(log)}")
        if time.monotonic() > deadline:
            node.stop()
            raise AssertionError(f"{config.name}: not listening after {START_TIMEOUT_S} s:\n{log_tail(log)}")
        time.sleep(0.05)
    return node


def route_peers(node: Node) -> set[str]:
    """The server names this node has routes to."""
    return {route["remote_name"] for route in node.monitor("routez").get("routes") or []}


async def wait_for_routes(node: Node, peers: set[str]) -> None:
    """Until `node` has routes to exactly `peers`."""
    await wait_until(
        lambda: asyncio.to_thread(route_peers, node), lambda found: found == peers, 10, f"{node.name}'s routes"
    )


async def ignore(exc: Exception) -> None:
    return None


async def retry(action: Callable[[], Awaitable[T]], within: float, what: str) -> T:
    """`action` until it succeeds; NATS errors (no responders, timeouts, 503s) count as not yet."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await action()
        except nats.errors.Error as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {within} s waiting for {what}; last error: {exc!r}") from exc
        await asyncio.sleep(0.25)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[dict[str, Node]]:
    """The three cluster nodes, by server name, all ports (client, monitoring, cluster) replaced."""
    originals = sorted({port for config in CLUSTER_CONFIGS for port in config_ports(config.read_text())})
    assert len(originals) == 9, f"3 nodes x (client, monitoring, cluster) ports, got {originals}"
    ports = dict(zip(originals, free_ports(len(originals)), strict=True))
    nodes: dict[str, Node] = {}
    try:
        for config in CLUSTER_CONFIGS:
            node = start_node(config, ports, tmp_path / config.stem)
            nodes[node.name] = node
        yield nodes
    finally:
        for node in nodes.values():
            node.stop()


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_the_cluster_keeps_a_replicated_stream_writable_with_one_node_killed(cluster: dict[str, Node]) -> None:
    assert len(cluster) == 3
    for name, node in cluster.items():
        varz = await asyncio.to_thread(node.monitor, "varz")
        assert (varz["server_name"], varz["port"]) == (name, node.client_port)
        assert varz["cluster"]["name"] == "crisis"
        assert varz["jetstream"]["config"]["sync_always"] is True
    nc = await nats.connect(
        servers=[node.url for node in cluster.values()],
        connect_timeout=2,
        reconnect_time_wait=0.1,
        max_reconnect_attempts=-1,
        error_cb=ignore,  # connection refused by the killed node, while the client moves on: expected
    )
    try:
        js = nc.jetstream(timeout=2)
        config = StreamConfig(
            name=STREAM, subjects=[SUBJECT], storage=StorageType.FILE, num_replicas=3, allow_atomic=True
        )
        info = await retry(lambda: js.add_stream(config), READY_TIMEOUT_S, "a stream of 3 replicas")
        assert info.config.num_replicas == 3

        first = await retry(
            lambda: js.publish(SUBJECT, b"before", headers={"Nats-Msg-Id": "before"}), 10, "the first publish"
        )
        # Ingest's batches: one atomic batch, stored whole by the replicated stream.
        batch = [Message(SUBJECT, f"batch {i}".encode(), {"Nats-Msg-Id": f"batch-{i}"}) for i in range(3)]
        stored = await Acks(nc).publish_batch(iter(batch), len(batch), timeout_s=10)
        assert isinstance(stored, PubAck) and (stored.seq, stored.batch_size) == (first.seq + 3, 3), stored
        info = await js.stream_info(STREAM)
        assert info.cluster is not None and info.cluster.leader in cluster
        assert sorted(str(r.name) for r in info.cluster.replicas or []) == sorted(set(cluster) - {info.cluster.leader})
        for name, node in cluster.items():
            await wait_for_routes(node, set(cluster) - {name})

        # Kill the stream's leader: the harder case, the survivors must elect a new one first.
        victim = cluster[info.cluster.leader]
        victim.kill()

        # Retries carry the same message id: a publish stored but not acknowledged in time is not stored twice.
        second = await retry(
            lambda: js.publish(SUBJECT, b"after", headers={"Nats-Msg-Id": "after"}),
            FAILOVER_TIMEOUT_S,
            "a publish with one node down",
        )
        assert second.seq == first.seq + 4

        messages = [await js.get_msg(STREAM, seq) for seq in range(first.seq, second.seq + 1)]
        assert [m.data for m in messages] == [b"before", b"batch 0", b"batch 1", b"batch 2", b"after"]
        info = await js.stream_info(STREAM)
        assert info.state.messages == 5
        assert info.cluster is not None and info.cluster.leader in set(cluster) - {victim.name}
        for name, node in cluster.items():
            if node is not victim:
                await wait_for_routes(node, set(cluster) - {name, victim.name})
    finally:
        await nc.close()


@pytest.fixture
def single(tmp_path: Path) -> Iterator[Node]:
    originals = config_ports(SINGLE_CONFIG.read_text())
    ports = dict(zip(originals, free_ports(len(originals)), strict=True))
    node = start_node(SINGLE_CONFIG, ports, tmp_path / "single")
    try:
        yield node
    finally:
        node.stop()


async def test_the_single_node_config_runs_jetstream_fsyncing_every_write(single: Node, tmp_path: Path) -> None:
    varz = await asyncio.to_thread(single.monitor, "varz")
    assert varz["port"] == single.client_port
    assert varz["server_name"] == "crisis-nats"
    assert varz["max_payload"] == 1024 * 1024
    assert varz["jetstream"]["config"]["sync_always"] is True

    nc = await nats.connect(single.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=STREAM, subjects=[SUBJECT])
        ack = await js.publish(SUBJECT, b"kept")
        assert ack.seq == 1
    finally:
        await nc.close()
    assert any((tmp_path / "single" / "store").rglob("*.blk")), "the stream is stored under the rewritten store_dir"
