"""Two Ray nodes on one machine, each with its own checkpoint cache (no shared disk): every victim
is trained once, and every job on it runs on exactly the weights its train job recorded."""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest
from runner_fakes import per_node_setup, query, state_digest

from archrisk.runner import audit, executors

STUDY = """
name = "two-nodes"
seeds = [0]
size = "tiny"
archs = ["darts_v2", "resnet18"]

[data]
name = "digits"
limit = 200

[recipe]
epochs = 1
batch_size = 64

[[attacks]]
name = "fake_evasion"
params = { n = 32 }
grid = { eps = [0.1, 0.2, 0.3] }

[[metrics]]
name = "fake_norm"
at = ["trained"]
"""


class TrainOnHead(executors.RayExecutor):
    """Train tasks run only where the 'trainer' resource is (the head node). With one CPU per node
    and two jobs in flight, the other node always gets work on victims it never trained."""

    def _task(self, spec: dict):
        return self._fn.options(resources={"trainer": 1}) if spec["kind"] == "train" else self._fn


@pytest.fixture
def two_nodes(tmp_path):
    """(folder holding one sub-folder per node, the head node's id)."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'archrisk[ray]')")
    from ray.cluster_utils import Cluster

    nodes = tmp_path / "nodes"
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"trainer": 1}})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False, configure_logging=False, runtime_env={"env_vars": {
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "ARCHRISK_NODES": str(nodes),
            "OMP_NUM_THREADS": "1"}})
        head = next(n["NodeID"] for n in ray.nodes() if n["Alive"] and "trainer" in n["Resources"])
        yield nodes, head
    finally:
        ray.shutdown()
        cluster.shutdown()


def _fields(line: str) -> dict[str, str]:
    return dict(t.split("=", 1) for t in line.split() if "=" in t)


def test_each_victim_trains_once_and_every_job_uses_the_recorded_weights(two_nodes, tmp_path, cache, monkeypatch):
    from safetensors.torch import load_file

    nodes, head = two_nodes
    monkeypatch.setitem(executors.EXECUTORS, "ray", TrainOnHead)
    store = tmp_path / "r.db"
    s = audit(STUDY, store, executor="ray", workers=2, progress=False, worker_setup=per_node_setup)
    assert s.complete and s.counts["done"] == s.total == 2 * (1 + 3 + 1), s.failures
    logs = {d.name: (d / "log").read_text().splitlines() for d in nodes.iterdir()}
    assert len(logs) == 2 and head in logs  # both nodes ran jobs
    other = next(n for n in logs if n != head)

    # each victim trained exactly once, on the head; the other node never trained
    fits = sorted(line.split(" ", 1)[1] for line in logs[head] if " fit " in line)
    assert fits == ["fit darts_v2", "fit resnet18"]
    assert not [line for line in logs[other] if " fit " in line]

    # the caches hold the recorded bytes: the head both victims, the other node those it received via Ray
    recorded = dict(query(store, "SELECT j.spec_hash, a.json FROM artifacts a JOIN jobs j ON j.id=a.job_id "
                                 "WHERE j.kind='train' AND a.key='checkpoint'"))
    assert len(recorded) == 2
    digests, received = {}, 0
    for spec_hash, rec in recorded.items():
        rec = json.loads(rec)
        held = {n: nodes / n / "cache" / "checkpoints" / f"{rec['key']}.safetensors" for n in logs}
        held = {n: f for n, f in held.items() if f.exists()}
        assert head in held
        for node, weights in held.items():
            assert hashlib.sha256(weights.read_bytes()).hexdigest() == rec["sha256"], node
        received += other in held
        digests[spec_hash] = state_digest(load_file(str(held[head])))
    assert len(set(digests.values())) == 2 and received >= 1

    # and every attack and metric job, on either node, ran on those weights
    attacks = [_fields(line) for node in logs for line in logs[node] if " attack " in line]
    assert len(attacks) == 6
    for a in attacks:
        assert a["weights"] == digests[a["spec"]]
    metrics = sorted(_fields(line)["digest"] for node in logs for line in logs[node] if " metric " in line)
    assert metrics == sorted(digests.values())
    assert any(" attack " in line or " metric " in line for line in logs[other])
