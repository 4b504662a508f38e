"""Search: the first-order step selects the op that is clearly best on a toy task, derivation
follows DARTS' rule, penalties steer structure (ablated against lam = 0), seeded determinism,
and bad input."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from archrisk.arch.genotype import DARTS_SPACE
from archrisk.errors import InvalidValueError, UnknownNameError
from archrisk.search import SoftCell, search
from archrisk.search.loop import first_order_step
from archrisk.search.supernet import MixedOp, derive_cell, edge_inputs

OPS = ("none", *DARTS_SPACE)

pytestmark = pytest.mark.usefixtures("one_thread")


class ToyCell(nn.Module):
    """One node fed twice by the same input through two mixed edges (a 1-step dense cell)."""

    def __init__(self, c: int):
        super().__init__()
        self.edges = nn.ModuleList(MixedOp(OPS, c, 1) for _ in range(2))
        self.alpha_normal = nn.Parameter(1e-3 * torch.randn(2, len(OPS), generator=torch.Generator().manual_seed(1)))

    def alphas(self):
        return [self.alpha_normal]

    def weights(self):
        return [p for n, p in self.named_parameters() if n != "alpha_normal" and p.requires_grad]

    def forward(self, x):
        w = F.softmax(self.alpha_normal, -1)
        return self.edges[0](x, w[0]) + self.edges[1](x, w[1])


def _target(op: str, x: torch.Tensor) -> torch.Tensor:
    """What two edges both carrying `op` output (pools are batch-normalised inside MixedOp)."""
    if op == "skip_connect":
        return 2 * x
    pooled = F.max_pool2d(x, 3, 1, 1) if op == "max_pool_3x3" else F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    return 2 * F.batch_norm(pooled, None, None, training=True)


@pytest.mark.parametrize("best", ["max_pool_3x3", "avg_pool_3x3", "skip_connect"])
def test_first_order_step_selects_the_op_that_generates_the_target(best: str) -> None:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    net = ToyCell(4)
    w_opt = torch.optim.SGD(net.weights(), lr=0.025, momentum=0.9)
    a_opt = torch.optim.Adam(net.alphas(), lr=0.03, betas=(0.5, 0.999))
    for _ in range(150):
        xw, xa = torch.randn(32, 4, 8, 8, generator=gen), torch.randn(32, 4, 8, 8, generator=gen)
        first_order_step(net, w_opt, a_opt, (xw, _target(best, xw)), (xa, _target(best, xa)),
                         lambda w: w.sum() * 0, 0.0, 5.0, loss_fn=F.mse_loss)
    assert derive_cell(net.alpha_normal.detach(), OPS, steps=1) == ((best, 0), (best, 1))
    w = F.softmax(net.alpha_normal.detach(), -1)
    assert (w[:, OPS.index(best)] > 0.5).all()  # clearly ahead, not a near-tie


def test_derivation_follows_darts_rule() -> None:
    steps = 3
    alpha = torch.zeros(len(edge_inputs(steps)), len(OPS))
    # node 0: edges (0, 1); node 1: inputs 0..2; node 2: inputs 0..3
    alpha[:, OPS.index("none")] = 5.0  # 'none' dominates everywhere but is never derived
    alpha[2, OPS.index("sep_conv_5x5")] = 3.0  # node 1 <- input 0
    alpha[4, OPS.index("skip_connect")] = 2.0  # node 1 <- node 0 (index 2)
    alpha[3, OPS.index("max_pool_3x3")] = 1.0  # node 1 <- input 1 (weaker: dropped)
    alpha[8, OPS.index("dil_conv_3x3")] = 2.5  # node 2 <- node 1 (index 3)
    alpha[5, OPS.index("avg_pool_3x3")] = 2.4  # node 2 <- input 0
    cell = derive_cell(alpha, OPS, steps)
    assert cell[2:4] == (("sep_conv_5x5", 0), ("skip_connect", 2))
    assert cell[4:6] == (("avg_pool_3x3", 0), ("dil_conv_3x3", 3))
    assert all(op != "none" for op, _ in cell)


def test_soft_stats_equal_hard_stats_on_one_hot_weights() -> None:
    from archrisk.arch.genotype import random_genotype
    from archrisk.arch.remedies import deepen

    for seed in range(12):
        g = random_genotype(seed)
        g = deepen(g, 1) if seed % 2 and g.stats().depth < 4 else g
        inputs = edge_inputs(4)
        w = torch.zeros(len(inputs), len(OPS))
        w[:, 0] = 1.0  # edges not in the genotype: 'none'
        for n, (op, i) in enumerate(g.normal):
            e = inputs.index((n // 2, i))
            w[e] = 0
            w[e, OPS.index(op)] = 1.0
        soft = SoftCell(w, OPS, 4).soft_stats()
        hard = g.stats()
        assert soft["skips"].item() == pytest.approx(sum(2 / (j // 2 + 2) for j, (op, _) in enumerate(g.normal)
                                                              if op == "skip_connect"))
        assert soft["width"].item() == pytest.approx(hard.width)
        assert soft["depth"].item() >= 1 and soft["depth"].item() <= hard.depth + 1e-6


TINY = dict(budget="tiny", epochs=2, images=120, C=4, layers=3, batch_size=30, warmup_epochs=0, progress=False)


def test_search_is_deterministic_per_seed(digits) -> None:
    kw = {**TINY, "epochs": 1, "images": 80}
    a = search(digits, seed=3, **kw)
    b = search(digits, seed=3, **kw)
    c = search(digits, seed=4, **kw)
    assert a.alpha_normal == b.alpha_normal and a.genotype == b.genotype
    assert a.alpha_normal != c.alpha_normal
    assert len(a.history) == 1 and math.isfinite(a.history[-1]["val_loss"])


CHEAP = ("none", "skip_connect", "avg_pool_3x3")  # parameter-free ops: a search takes ~1 s


def _expected_skips(result) -> float:
    w = F.softmax(torch.tensor(result.alpha_normal), -1)
    return SoftCell(w, CHEAP, 4).expected_count({"skip_connect"}).item()


@pytest.mark.parametrize("seed", [0, 1])
def test_strong_skip_penalty_removes_skips_and_depth_reward_deepens(digits, seed: int) -> None:
    kw = {**TINY, "images": 240, "alpha_lr": 0.05, "ops": CHEAP}
    plain = search(digits, seed=seed, **kw)
    no_skip = search(digits, seed=seed, penalty="skip", lam=5.0, **kw)
    deep = search(digits, seed=seed, penalty="depth", lam=5.0, **kw)
    # ablation: the same search without the penalty keeps skip connects and a shallower cell
    assert plain.genotype.stats().skips >= 1 and no_skip.genotype.stats().skips == 0
    assert _expected_skips(no_skip) < 0.8 * _expected_skips(plain)
    assert deep.genotype.stats().depth == 4 > plain.genotype.stats().depth


@pytest.mark.parametrize("kw, err", [
    ({"penalty": "fewer_skips"}, UnknownNameError),
    ({"lam": -0.1}, InvalidValueError),
    ({"lam": float("nan")}, InvalidValueError),
    ({"budget": "huge"}, UnknownNameError),
    ({"ops": ("skip_connect", "conv_9x9")}, UnknownNameError),
    ({"ops": ("none",)}, InvalidValueError),
    ({"threads": 0}, InvalidValueError),
    ({"epochs": 0}, InvalidValueError),
    ({"alpha_lrr": 0.1}, UnknownNameError),
])
def test_bad_search_arguments(kw: dict, err: type, digits) -> None:
    with pytest.raises(err):
        search(digits, **{**TINY, **kw})


@pytest.mark.parametrize("args", [["--penalty", "fewer_skips"], ["--lam", "-1"], ["--budget", "huge"],
                                  ["--group", "Plain Arm"]])
def test_cli_search_bad_input_exit_2(args: list[str], capsys) -> None:
    from archrisk.cli import main

    assert main(["search", "--dataset", "digits", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


@pytest.mark.slow  # a search, a training and an attack end to end through the CLI
def test_cli_search_writes_a_genotype_usable_as_arch(tmp_path, capsys) -> None:
    import json

    from archrisk.arch import build
    from archrisk.cli import main

    out = tmp_path / "found.json"
    assert main(["search", "--dataset", "digits", "--epochs", "1", "--threads", "1", "--penalty", "skip",
                 "--lam", "0.1", "--out", str(out), "--json"]) == 0
    rec = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out)["format"] == rec["format"]
    model = build(json.dumps(rec["genotype"]), num_classes=10, in_channels=1)
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 10)
    from archrisk.runner import parse_study  # the printed entry drops into a study file as is

    study = parse_study(f'name = "s"\nseeds = [0]\narchs = [{rec["study_entry"]}]\n')
    assert study.labels() == ["search-skip-0.1-s0"] and study.archs[0].group == "search-skip"  # one group per arm
    assert "NaN" not in out.read_text() and rec["history"][0]["penalty"] is None  # warm-up epoch: strict JSON null


def test_score_penalty_is_the_fitted_structural_terms_on_soft_stats() -> None:
    from archrisk.score import load_model
    from archrisk.search import get_penalty

    model = load_model()  # the shipped coefficients
    fit = model.families["evasion"]
    alpha = (0.5 * torch.randn(len(edge_inputs(4)), len(OPS), generator=torch.Generator().manual_seed(0))
             ).requires_grad_(True)
    cell = SoftCell(F.softmax(alpha, -1), OPS, 4)
    value = get_penalty("score")(cell)
    stats = {k: v.item() for k, v in cell.soft_stats().items()}
    by_hand = sum(fit.coef[model.signals.index(s)]
                  * max(-3.0, min(3.0, (stats[s] - model.center[model.signals.index(s)])
                                  / model.scale[model.signals.index(s)]))
                  for s in ("depth", "width", "skips", "parametric"))
    assert value.item() == pytest.approx(by_hand, rel=1e-5, abs=1e-7)
    value.backward()
    assert alpha.grad.abs().sum() > 0
