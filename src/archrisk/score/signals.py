"""Signals available before an architecture is fully trained, measured the same way every time.

Three kinds, each a registered metric of `archrisk.metrics` read through `explain`:
- structure (free): normal-cell depth, width, skip connects, convolutions (NaN for manual nets),
  and the parameter count (log10);
- at initialisation (one forward/backward pass over a batch): NTK conditioning (log10) and the
  size-free gradient variance (log10);
- after a short run of `short_epochs` epochs on a small subset: input-gradient norm (loss
  smoothness around inputs, log10), and early convergence (mean validation accuracy and
  training loss over those epochs).

The subset, sample counts and seed are part of a `SignalConfig`; a fitted score stores its
config, and scoring always re-measures with it, so signals and coefficients agree.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

from archrisk.errors import InvalidValueError


@dataclass(frozen=True)
class SignalConfig:
    # A fixed, cheap probe task (like zero-cost NAS proxies): 8x8 digits keeps scoring to seconds
    # on CPU whatever dataset the attacks ran on; the fit validates how well that transfers.
    dataset: str = "digits"  # where init / short-run signals are measured
    size: str = "tiny"  # size preset of the scored network
    limit: int = 600  # training images for the short run (validation/test splits unchanged)
    short_epochs: int = 2  # the short run's length
    batch_size: int = 32  # short-run batch: small, so two epochs are enough steps to learn something
    ntk_samples: int = 16  # images in the NTK batch
    grad_samples: int = 64  # per-sample gradients for the variance
    input_samples: int = 64  # test images for the input-gradient norm
    seed: int = 0
    # CPU threads while measuring (restored after): the short run's numerics depend on the
    # reduction order, so the fit and every later score use the same count.
    threads: int = 1

    def __post_init__(self) -> None:
        for name in ("limit", "short_epochs", "batch_size", "ntk_samples", "grad_samples", "input_samples",
                     "threads"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidValueError(f"signal config {name}={v!r} must be an integer >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


# name -> (metric read from explain, transform, description). Order = column order of the fit.
SIGNALS: dict[str, tuple[str, str, str]] = {
    "depth": ("cell_depth", "id", "normal-cell depth (NaN for manual nets)"),
    "width": ("cell_width", "id", "normal-cell width"),
    "skips": ("cell_skips", "id", "normal-cell skip connects"),
    "parametric": ("cell_parametric", "id", "normal-cell convolution edges"),
    "log_params": ("params", "log10", "parameters (log10)"),
    "ntk_cond": ("ntk_cond", "log10", "NTK condition number at init (log10)"),
    # At `tiny` this ranks the 35 reference architectures no better than chance from one init seed
    # to the next (Spearman 0.00, seeds 0 vs 1; the other signals agree to 0.83-1.0), so the fit
    # gives it little weight. Measured after the short run it is steady (0.77), but adding that
    # as an eleventh signal lowered the held-out evasion rho (0.60 -> 0.55), so it is not used.
    "grad_var": ("grad_var_norm", "log10", "normalised gradient variance at init (log10)"),
    "input_grad": ("input_grad_norm", "log10", "input-gradient norm after the short run (log10)"),
    "early_acc": ("conv_acc_auc", "id", "mean validation accuracy over the short run"),
    "early_loss": ("conv_loss_auc", "id", "mean training loss over the short run"),
}
STRUCTURAL = ("depth", "width", "skips", "parametric")  # differentiable in a supernet (search penalty)
_INIT = ("ntk_cond", "grad_var_norm", "cell_depth", "cell_width", "cell_skips", "cell_parametric")
_SHORT = ("input_grad_norm", "conv_acc_auc", "conv_loss_auc")


def _transform(value: float, how: str) -> float:
    if how == "log10":
        return math.log10(value) if value > 0 and math.isfinite(value) else float("nan")
    return float(value)


def measure_signals(arch: str, cfg: SignalConfig = SignalConfig(), device: str = "cpu",
                    dataset=None) -> dict[str, float]:
    """Every signal of `arch` (arch string or Genotype) under `cfg`; NaN where undefined.
    `dataset` may pass the loaded subset in (repeated calls on one dataset)."""
    from archrisk.train import torch_threads

    with torch_threads(cfg.threads):
        return _measure(arch, cfg, device, dataset)


def _measure(arch, cfg: SignalConfig, device: str, dataset) -> dict[str, float]:
    from archrisk.data import load_dataset
    from archrisk.metrics import explain
    from archrisk.train import resolve_recipe

    t0 = time.perf_counter()
    ds = dataset if dataset is not None else load_dataset(cfg.dataset, limit=cfg.limit)
    recipe = resolve_recipe("study", cfg.size, batch_size=cfg.batch_size)
    common = dict(size=cfg.size, seed=cfg.seed, device=device, progress=False, recipe=recipe)
    raw = {k: r.value for k, r in explain(arch, ds, at="init", metrics=_INIT, ntk={"samples": cfg.ntk_samples},
                                          gradient_variance={"samples": cfg.grad_samples}, **common).items()}
    raw.update({k: r.value for k, r in explain(arch, ds, at="trained", metrics=_SHORT, epochs=cfg.short_epochs,
                                               convergence={"k": cfg.short_epochs},
                                               input_smoothness={"samples": cfg.input_samples}, **common).items()})
    sizes = size_signals(arch, ds, cfg.size)
    out = {name: sizes[name] if name in sizes else _transform(raw[metric], how)
           for name, (metric, how, _) in SIGNALS.items()}
    out["log_flops"] = sizes["log_flops"]  # a baseline, not a signal
    out["_seconds"] = time.perf_counter() - t0
    return out


def size_signals(arch, ds, size: str) -> dict[str, float]:
    """`arch` built for `ds` at `size`: its parameter count (a signal) and FLOPs (with it, the size
    baselines every family's fit is held against), both log10."""
    from archrisk.arch import build, count_flops, count_params

    model = build(arch, num_classes=ds.num_classes, in_channels=ds.shape[0], size=size)
    return {"log_params": _transform(float(count_params(model)), "log10"),
            "log_flops": _transform(float(count_flops(model, tuple(ds.shape))), "log10")}
