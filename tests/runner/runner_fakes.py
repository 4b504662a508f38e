"""Fast, deterministic stand-ins registered into the real attack and metric registries.

`install()` is idempotent and picklable by reference, so it doubles as the `worker_setup` of
process-pool audits. Each fake really uses the victim it is given (its numbers depend on the
trained weights and the seed), so a runner that handed jobs the wrong victim would be caught.
Set ARCHRISK_FAKE_LOG to a file to get one line per job execution (duplicate-run checks).
"""
from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from typing import ClassVar

import torch

from archrisk.attacks import Attack, list_attacks, register_attack
from archrisk.errors import DivergedError
from archrisk.meaning import Meaning

FAKE_ATTACKS = ("fake_evasion", "fake_poison")
FAKE_METRICS = ("fake_norm", "fake_headnorm")


def _log(what: str) -> None:
    path = os.environ.get("ARCHRISK_FAKE_LOG")
    if path:
        with open(path, "a") as f:  # O_APPEND: whole short lines, even from several processes
            f.write(f"{os.getpid()} {what}\n")


@dataclass(frozen=True)
class FakeEvasion(Attack):
    """Uniform noise of size eps on n test images; success = the prediction changes."""

    name: ClassVar[str] = "fake_evasion"
    family: ClassVar[str] = "evasion"
    meanings: ClassVar[dict[str, Meaning]] = {"success_rate": Meaning(1, True, ("C1",), "predictions changed (0..1)"),
                                              "clean_acc": Meaning(0, False, (), "clean accuracy (0..1)")}
    eps: float = 0.3
    n: int = 64
    sleep: float = 0.0
    fail: bool = False
    diverge: bool = False
    vandal: bool = False  # zero the victim's weights and the test images in place
    interrupt: bool = False  # as if Ctrl-C arrived during the job

    def _run(self, victim, ctx):
        _log(f"attack {self.name} eps={self.eps} seed={ctx.seed} spec={ctx.spec.hash()} weights={state_digest(victim)}")
        time.sleep(self.sleep)
        if self.vandal:
            with torch.no_grad():
                for p in victim.parameters():
                    p.zero_()
            ctx.dataset.test.x.zero_()
        if self.fail:
            raise RuntimeError("fake attack failed on purpose")
        if self.interrupt:
            raise KeyboardInterrupt
        if self.diverge:
            raise DivergedError(0, 3, float("nan"))
        x, y = ctx.dataset.test.x[:self.n], ctx.dataset.test.y[:self.n]
        noise = (torch.rand(x.shape, generator=ctx.generator()) * 2 - 1)
        with torch.no_grad():
            clean = victim(x.to(ctx.device)).argmax(1).cpu()
            rows = []
            for e in (self.eps / 2, self.eps):
                pred = victim((x + e * noise).clamp(0, 1).to(ctx.device)).argmax(1).cpu()
                rows.append({"eps": e, "success_rate": (pred != clean).float().mean().item()})
        fooled = (pred != clean).nonzero().flatten().tolist()
        return ({"success_rate": rows[-1]["success_rate"], "clean_acc": (clean == y).float().mean().item()},
                {"eps": rows}, {"fooled": fooled})


@dataclass(frozen=True)
class FakePoison(Attack):
    """A 'training attack': reads the clean victim's accuracy, reports a deterministic drop."""

    name: ClassVar[str] = "fake_poison"
    family: ClassVar[str] = "poisoning"
    meanings: ClassVar[dict[str, Meaning]] = {"acc_drop": Meaning(1, True, ("C2",), "made-up drop (0..1)"),
                                              "clean_acc": Meaning(0, False, (), "clean accuracy (0..1)")}
    needs_victim: ClassVar[bool] = False
    fraction: float = 0.1
    sleep: float = 0.0

    def _run(self, victim, ctx):
        _log(f"attack {self.name} fraction={self.fraction} seed={ctx.seed} spec={ctx.spec.hash()}")
        time.sleep(self.sleep)
        clean = ctx.victim().test_acc
        drop = self.fraction * clean * (1 + torch.rand(1, generator=ctx.generator()).item())
        return {"clean_acc": clean, "acc_drop": drop}, {}, {"roc_fpr": [0.0, 0.5, 1.0], "roc_tpr": [0.0, 0.7, 1.0]}


def _fake_metric_family():
    from dataclasses import dataclass as dc

    from archrisk.metrics.base import Estimate, register_metric

    @dc(frozen=True)
    class FakeConfig:
        sleep: float = 0.0

    @register_metric(kind="model", config=FakeConfig, metrics={
        "fake_norm": "sum of squared weights", "fake_headnorm": "squared norm of the classifier"})
    def fake_weights(ctx, cfg, names):
        total = sum(p.detach().double().square().sum().item() for p in ctx.model.parameters())
        # the weights tell victims apart
        _log(f"metric {'+'.join(names)} seed={ctx.seed} weights={total:.9g} digest={state_digest(ctx.model)}")
        time.sleep(cfg.sleep)
        head = ctx.model.classifier.weight.detach().double().square().sum().item()
        out = {"fake_norm": Estimate(total, 0.01 * total, {"n_params": sum(p.numel() for p in ctx.model.parameters())}),
               "fake_headnorm": Estimate(head, None)}
        return {k: v for k, v in out.items() if k in names}


def state_digest(state) -> str:
    """SHA-256 of a model's (or a state dict's) tensors in name order: which weights a job used."""
    import hashlib

    state = state.state_dict() if isinstance(state, torch.nn.Module) else state
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def per_node_setup() -> None:
    """Worker setup of the two-node Ray test: each Ray node gets its own checkpoint cache and job
    log under $ARCHRISK_NODES/<node id>/, and every real training (not a cache load) is logged."""
    import ray

    from archrisk.train import loop

    node = os.path.join(os.environ["ARCHRISK_NODES"], ray.get_runtime_context().get_node_id())
    os.makedirs(node, exist_ok=True)
    os.environ["ARCHRISK_CACHE"] = os.path.join(node, "cache")
    os.environ["ARCHRISK_FAKE_LOG"] = os.path.join(node, "log")
    install()
    if not getattr(loop.fit, "logged", False):
        fit = loop.fit

        def logged_fit(model, *args, **kw):
            _log(f"fit {model.spec.name}")
            return fit(model, *args, **kw)

        logged_fit.logged = True
        loop.fit = logged_fit


def install() -> None:
    """Register the fakes (once per process)."""
    known = {a.name for a in list_attacks()}
    for cls in (FakeEvasion, FakePoison):
        if cls.name not in known:
            register_attack(cls)
    from archrisk.metrics import list_metrics

    if "fake_norm" not in list_metrics():
        _fake_metric_family()


def uninstall() -> None:
    """Remove the fakes again, so tests outside the runner see only archrisk's own registries."""
    from archrisk.attacks.base import unregister_attack
    from archrisk.metrics.base import _FAMILIES

    for cls in (FakeEvasion, FakePoison):
        unregister_attack(cls.name)
    _FAMILIES.unregister("fake_weights")


def study_toml(seeds=(0, 1), archs=("resnet18", "vgg13_bn"), sleep=0.0, extra="", epochs=0, limit=120) -> str:
    """A fast study on the fakes: real (0-epoch by default) training of tiny manual nets on the
    synthetic data (no sklearn import: subprocesses start faster)."""
    return f"""
name = "fake"
seeds = {json.dumps(list(seeds))}
size = "tiny"
archs = {json.dumps(list(archs))}

[data]
name = "synthetic"
limit = {limit}
val_fraction = 0.05

[recipe]
epochs = {epochs}
batch_size = 64

[[attacks]]
name = "fake_evasion"
params = {{ n = 48, sleep = {sleep} }}
grid = {{ eps = [0.2, 0.5] }}

[[attacks]]
name = "fake_poison"
params = {{ sleep = {sleep} }}
grid = {{ fraction = [0.1, 0.3] }}

[[metrics]]
name = "fake_norm"
at = ["init", "trained"]
params = {{ fake_weights = {{ sleep = {sleep} }} }}
{extra}
"""


# Result keys that measure time, not the model: left out when runs are compared.
TIMING = ("train_wall",)


def values(store) -> dict:
    """{(job_id, key): value} of every done job, timing keys left out."""
    with closing(sqlite3.connect(str(store))) as conn:
        rows = conn.execute("SELECT job_id, key, value FROM tidy").fetchall()
    return {(j, k): v for j, k, v in rows if k not in TIMING and not k.endswith(".cost_s")}


def artifacts(store) -> dict:
    """{(job_id, key): json} of every done job, provenance that varies (timings, cache hits, the
    checkpoint's key and bytes, which name the torch thread count) left out."""
    with closing(sqlite3.connect(str(store))) as conn:
        rows = conn.execute("SELECT a.job_id, a.key, a.json FROM artifacts a JOIN jobs j ON j.id=a.job_id "
                            "WHERE j.status='done' AND a.key NOT IN ('train', 'history', 'checkpoint')").fetchall()
    return {(j, k): v for j, k, v in rows}


def query(store, sql: str, *args) -> list[tuple]:
    with closing(sqlite3.connect(str(store))) as conn:
        return conn.execute(sql, args).fetchall()


if __name__ == "__main__":  # used by the kill -9 and two-process tests
    # usage: runner_fakes.py STUDY STORE [EXECUTOR WORKERS]
    torch.set_num_threads(min(2, os.cpu_count() or 1))  # as tests/conftest.py: same numbers as in-process runs
    install()
    import torch.optim  # noqa: F401  (slow first import, done before "ready" so kills land inside the audit)
    from archrisk.runner import audit

    executor = sys.argv[3] if len(sys.argv) > 3 else "local"
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    print("ready", flush=True)
    s = audit(sys.argv[1], sys.argv[2], executor=executor, workers=workers, progress=False,
              worker_setup=install if executor != "local" else None, poll_s=0.05)
    print("complete" if s.complete else "incomplete", s.ran, flush=True)
