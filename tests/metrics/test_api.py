"""measure / explain plumbing: registry, parameters, bad input, modes, seeds, structure, convergence."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest
import torch

from archrisk.arch import build
from archrisk.errors import InvalidValueError, UnknownNameError
from archrisk.metrics import Estimate, MetricResult, explain, list_metrics, measure, register_metric
from archrisk.metrics import base as registry
from archrisk.train import EpochLog, TrainResult, get_recipe, train_model
from metric_fixtures import convnet, linear, make_split, mlp

MODEL_METRICS = ["hessian_top", "hessian_trace", "hessian_min", "input_grad_norm", "lipschitz", "grad_var",
                 "grad_var_norm", "grad_var_per_sqrt_p", "grad_snr", "ntk_cond", "ntk_min", "ntk_max", "ntk_trace"]


def test_registry_lists_every_family():
    assert list_metrics(kind="model")[:len(MODEL_METRICS)] == MODEL_METRICS  # later files may add more
    assert list_metrics("cell_*") == ["cell_depth", "cell_width", "cell_skips", "cell_parametric"]
    assert {"conv_acc_auc", "conv_loss_auc", "conv_epochs_to_90"} <= set(list_metrics(kind="training"))


def test_measure_defaults_to_every_model_metric_and_restores_the_model():
    model = convnet()
    model.train()
    r = measure(model, make_split(24), hessian=dict(samples=8), gradient_variance=dict(samples=8), ntk=dict(samples=6), input_smoothness=dict(samples=8))
    assert list(r) == list_metrics(kind="model")
    assert all(isinstance(v, MetricResult) and math.isfinite(v.value) and v.cost_s >= 0 for v in r.values())
    assert model.training and all(p.grad is None for p in model.parameters())
    json.dumps([v.to_dict() for v in r.values()], allow_nan=False)  # strict JSON


def test_same_seed_same_numbers():
    split = make_split(40)
    kw = dict(hessian=dict(samples=10), input_smoothness=dict(radius=0.1), gradient_variance=dict(samples=10))
    a = measure(mlp(), split, ["hessian_trace", "grad_var"], seed=3, **kw)
    b = measure(mlp(), split, ["grad_var", "hessian_trace"], seed=3, **kw)
    c = measure(mlp(), split, ["hessian_trace", "grad_var"], seed=4, **kw)
    assert all(a[k].value == b[k].value for k in a)
    assert all(a[k].value != c[k].value for k in a)  # a different subset of the 40 images


def test_bad_input_raises_one_line_errors():
    split = make_split(10)
    with pytest.raises(UnknownNameError, match="unknown metric 'hesian_top'"):
        measure(mlp(), split, ["hesian_top"])
    with pytest.raises(InvalidValueError, match="metric 'hessian' has no parameter 'sample'"):
        measure(mlp(), split, ["hessian_top"], hessian=dict(sample=4))
    with pytest.raises(InvalidValueError, match="samples=50 is larger than the 10 images"):
        measure(mlp(), split, ["grad_var"], gradient_variance=dict(samples=50))
    with pytest.raises(InvalidValueError, match="samples x batches=12 is larger than the 10"):
        measure(mlp(), split, ["hessian_top"], hessian=dict(samples=6))  # 2 batches by default
    with pytest.raises(InvalidValueError, match="iters=0 is out of range; it must be >= 1"):
        measure(mlp(), split, ["hessian_top"], hessian=dict(iters=0))
    with pytest.raises(InvalidValueError, match="needs a training run"):
        measure(mlp(), split, ["conv_acc_auc"])
    with pytest.raises(InvalidValueError, match="memory_limit_gb"):
        measure(mlp(), split, ["ntk_max"], memory_limit_gb=-1)
    with pytest.raises(InvalidValueError, match="Split or Dataset"):
        measure(mlp(), (split.x, split.y), ["ntk_max"])
    # a default larger than the data is capped, not an error
    assert measure(mlp(), split, ["grad_var"])["grad_var"].extra["samples"] == 10


def test_registering_a_metric_is_one_decorator():
    @dataclass(frozen=True)
    class Cfg:
        scale: float = 1.0

    @register_metric(kind="model", config=Cfg, metrics={"toy_param_norm": "scaled parameter norm"})
    def toy(ctx, cfg, names):
        norm = float(sum(p.detach().norm() ** 2 for p in ctx.model.parameters())) ** 0.5
        return {"toy_param_norm": Estimate(cfg.scale * norm)}

    try:
        model = linear()
        r = measure(model, make_split(5), ["toy_param_norm"], toy=dict(scale=2.0))
        expected = 2 * float(torch.cat([p.detach().reshape(-1) for p in model.parameters()]).norm())
        assert r["toy_param_norm"].value == pytest.approx(expected)
        assert "toy_param_norm" in list_metrics()
        with pytest.raises(InvalidValueError, match="already registered"):
            register_metric(kind="model", metrics={"toy_param_norm": "again"})(lambda c, f, n: {})
    finally:
        registry._FAMILIES.unregister("toy")


def test_metrics_declare_their_meaning_and_never_a_headline():
    from archrisk.meaning import Meaning
    from archrisk.metrics import meaning_of

    assert meaning_of("grad_var") == Meaning(-1, False, ("C6",), meaning_of("grad_var").description)
    assert meaning_of("grad_var").description  # taken from the metric's own description
    assert meaning_of("conv_epochs_to_75").direction == -1 and meaning_of("conv_epochs_to_75").claims == ("C8",)
    assert meaning_of("no_such_metric") == Meaning()
    fams = {f.name: f for f in registry.metric_families()}
    assert all(not m.headline for f in fams.values() for m in f.meanings.values())
    with pytest.raises(InvalidValueError, match="only attacks have one"):
        register_metric(kind="model", metrics={"toy_a": "a"}, meanings={"toy_a": Meaning(1, True)})
    with pytest.raises(InvalidValueError, match="declares a meaning for 'toy_b'"):
        register_metric(kind="model", metrics={"toy_a": "a"}, meanings={"toy_b": Meaning(1)})(lambda c, f, n: {})
    assert "toy_a" not in list_metrics()


def test_structure_metrics(digits):
    r = explain("darts_v2", digits, at="init", metrics=["cell_depth", "cell_width", "cell_skips", "cell_parametric"])
    stats = build("darts_v2").spec.genotype.stats("normal")
    assert [r[n].value for n in r] == [stats.depth, stats.width, stats.skips, stats.parametric]
    assert (r["cell_depth"].value, r["cell_skips"].value) == (2, 2)  # the study's table: DARTS 2/2
    manual = explain("resnet18", digits, at="init", metrics=["cell_depth"])["cell_depth"]
    assert math.isnan(manual.value) and "no cell" in manual.extra["reason"]


def _fake_run(digits, val_acc, train_loss) -> TrainResult:
    model = build("resnet18", num_classes=10, in_channels=1)
    hist = [EpochLog(i + 1, tl, 0.0, 0.0, va, 0.01, 1.0) for i, (va, tl) in enumerate(zip(val_acc, train_loss))]
    return TrainResult(model, model.spec, get_recipe(), "digits", 0, len(hist), hist, len(hist), val_acc[-1],
                       0.0, "fake", True, 0.0, "cpu")


def test_convergence_reads_the_history(digits):
    run = _fake_run(digits, [0.5, 0.7, 0.85, 0.92, 0.95], [2.0, 1.0, 0.5, 0.3, 0.2])
    r = explain("resnet18", digits, victim=run, metrics=["conv_acc_auc", "conv_loss_auc", "conv_epochs_to_90",
                                                         "conv_epochs_to_80", "conv_epochs_to_99"])
    assert r["conv_acc_auc"].value == pytest.approx((0.5 + 0.7 + 0.85) / 3)
    assert r["conv_loss_auc"].value == pytest.approx((2.0 + 1.0 + 0.5) / 3)
    assert r["conv_epochs_to_80"].value == 3 and r["conv_epochs_to_90"].value == 4
    assert r["conv_epochs_to_99"].value == 6 and r["conv_epochs_to_99"].extra["reached"] is False  # censored
    assert explain("resnet18", digits, victim=run, metrics=["conv_acc_auc"], convergence=dict(k=5))["conv_acc_auc"].value == \
        pytest.approx(0.784)
    with pytest.raises(InvalidValueError, match="k=9 is larger than the 5-epoch run"):
        explain("resnet18", digits, victim=run, metrics=["conv_acc_auc"], convergence=dict(k=9))
    with pytest.raises(UnknownNameError):
        explain("resnet18", digits, victim=run, metrics=["conv_epochs_to_100"])


def test_explain_init_measures_the_training_runs_starting_weights(digits):
    kw = dict(metrics=["input_grad_norm"], input_smoothness=dict(samples=32))
    at_init = explain("resnet18", digits, at="init", seed=3, **kw)["input_grad_norm"]
    start = train_model("resnet18", digits, seed=3, epochs=0, cache=False, progress=False)
    direct = measure(start.model, digits, seed=3, **kw)["input_grad_norm"]
    assert at_init.value == pytest.approx(direct.value, rel=1e-6)
    with pytest.raises(InvalidValueError, match="at='final'"):
        explain("resnet18", digits, at="final", metrics=["cell_depth"])


def test_explain_trained_uses_train_and_its_cache(digits):
    r = explain("resnet18", digits, epochs=2, seed=0, metrics=["input_grad_norm", "conv_acc_auc"], convergence=dict(k=2), input_smoothness=dict(samples=32))
    again = train_model("resnet18", digits, epochs=2, seed=0, progress=False)
    assert again.from_cache  # explain trained it through train_model(), which cached it
    assert r["conv_acc_auc"].value == pytest.approx(sum(h.val_acc for h in again.history) / 2)
    assert r["input_grad_norm"].value == pytest.approx(
        measure(again.model, digits, ["input_grad_norm"], input_smoothness=dict(samples=32))["input_grad_norm"].value, rel=1e-6)


@pytest.mark.filterwarnings("ignore:hessian_top")  # 4 Lanczos steps: not converged, on purpose
@pytest.mark.parametrize("arch", ["darts_v2", "resnet18"])
def test_zoo_architectures_measure(digits, arch):
    """The vectorised derivatives run through every op of a cell net and a residual net."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build(arch, num_classes=10, in_channels=1, mean=digits.mean, std=digits.std)
    small = dict(hessian=dict(samples=4, iters=4, probes=2, trace_rse=0), input_smoothness=dict(samples=4, steps=1), gradient_variance=dict(samples=4, groups=2), ntk=dict(samples=4))
    r = measure(model, digits, MODEL_METRICS, **small)
    assert all(math.isfinite(r[n].value) for n in MODEL_METRICS if n != "ntk_cond")
    assert r["grad_var"].value > 0 and r["ntk_trace"].value > 0 and r["input_grad_norm"].value > 0


def test_explain_rejects_bad_parameters_before_training(digits, monkeypatch):
    import archrisk.metrics.api as api

    def no_training(*a, **k):
        raise AssertionError("train_model() was called before the parameters were checked")
    monkeypatch.setattr(api, "run_training", no_training)
    with pytest.raises(InvalidValueError, match="iters=0"):
        explain("darts_v2", digits, hessian=dict(iters=0))
    with pytest.raises(InvalidValueError, match="metric has no parameter"):
        explain("darts_v2", digits, hesian=dict(iters=3))
    with pytest.raises(UnknownNameError):
        explain("darts_v2", digits, metrics=["hessian_top", "nope"])
