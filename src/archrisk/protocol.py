"""The study's protocol as data: what Pang et al. (2022) ran, and why archrisk differs where it does.

Torch-free, so the report can read it. Two kinds of declaration:

- `ATTACKS[name][field]` and `RECIPE[field]`: the study's value of a config field. The report
  compares each stored job's config (the attack's "config" artifact, the recipe of its job)
  against these, so a changed default, a study-file override or a `--set` shows up on its own;
  `reason` says why archrisk's *default* differs (empty where the default is the study's), or, for
  an option the study does not have (its value: off), why one turns it on.
- `FIXED`: differences that live in code rather than in a config field (a loss, a sampling rule),
  each naming the attacks or stage it concerns. Tests tie each one to the code it describes.

Sources: the paper (shared/reference/paper.md) and its code (`ain-soph/autovul`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    study: Any  # the study's value
    reason: str = ""  # why archrisk's default differs from it ("" when it does not)


@dataclass(frozen=True)
class Fixed:
    setting: str
    study: str
    archrisk: str
    reason: str
    applies: tuple[str, ...]  # attack names, or "train" for every victim


_ALPHA = "left unset, the step follows eps at the study's ratio (eps/4)"

_EVASION = {
    "eps": Setting(8 / 255),
    "n": Setting(1000),
    "targeted": Setting(True),
    "target": Setting("least_likely"),  # its worst case; the best case is a separate run
    "criterion": Setting("confident", "the 0.99-confidence rule mixes calibration into robustness; "
                                      "both rules are recorded (success_rate_argmax, success_rate_confident)"),
}

_NES = {
    **_EVASION,
    "alpha": Setting(2 / 255, _ALPHA),
    "pop": Setting(200),  # query_num = 400 per estimate, antithetic
    "queries": Setting(2808),  # 7 iterations x (400 + 1) + 1
    "sigma": Setting(1e-3),
    "extra_targets": Setting(["most_likely_wrong"]),
}

_BACKDOOR = {
    "target": Setting(0),
    "finetune_epochs": Setting(20),
    "lr": Setting(0.01),
    "patch": Setting(3),
}

_TROJANNN = {
    **_BACKDOOR,
    "rate": Setting(0.01),
    "opacity": Setting(0.3),
    "neurons": Setting(2),
    "neuron_target": Setting(10.0),
    "trigger_steps": Setting(20),
    "trigger_lr": Setting(0.015),
    "trigger_optim": Setting("sign"),
    "trigger_threshold": Setting(5.0),
    "trigger_loss": Setting("l2"),
}

ATTACKS: dict[str, dict[str, Setting]] = {
    "pgd": {**_EVASION, "alpha": Setting(2 / 255, _ALPHA), "steps": Setting(7), "random_start": Setting(False)},
    "nes": _NES,
    "nes_matched": _NES,  # a named variant: its differences are the point of it
    "label_flip": {"retrain_epochs": Setting(50, "None retrains as long as the victim (50 epochs at paper scale)")},
    "badnets": {**_BACKDOOR, "rate": Setting(0.02)},
    "trojannn": _TROJANNN,
    "trojannn_strong": _TROJANNN,
    "knockoff": {"thief": Setting(None), "thief_epochs": Setting(25),
                 "budgets": Setting([1000, 2000, 4000, 8000, 16000], "the 1:2:4:8:16 ladder scaled so that the "
                                                                     "largest budget is the whole attacker pool")},
    "boundary": {"n": Setting(50, "50 + 50 samples give an AUC too noisy to compare architectures")},
}

# Named variants registered beside a study attack: their differences are the point of them.
VARIANTS: dict[str, str] = {
    "nes_matched": "the budget-matched variant (400 queries in all), chosen by name",
    "trojannn_strong": "the strong variant (5x5 patch, 70% opacity, 200 Adam steps), chosen by name",
}

_CONVERGE = ("the study trains every net a fixed 200 epochs; a fixed length shorter than that leaves some nets "
             "half-trained (hand-designed nets at 0.61 clean accuracy beside NAS cells at 0.97), which confounds "
             "every comparison, so each model trains until its validation accuracy stops rising, one rule for "
             "every group, the recipe's epochs being the cap")

RECIPE: dict[str, Setting] = {
    "epochs": Setting(200),
    "batch_size": Setting(96),
    "lr": Setting(0.025),
    "lr_min": Setting(0.0),
    "momentum": Setting(0.9),
    "weight_decay": Setting(5e-4),
    "grad_clip": Setting(5.0),
    "crop_padding": Setting(4),
    "flip": Setting(True),
    "cutout": Setting(16),
    "dropout": Setting(0.2),
    "drop_path": Setting(0.0),
    "aux_weight": Setting(0.0),
    # The convergence rule (train/convergence.py); the study has none: off.
    "patience": Setting(None, _CONVERGE),
    "min_delta": Setting(0.0, _CONVERGE),
}

# The share of the official training set a victim trains on (the study: all of it).
TRAIN_SHARE = Setting(1.0, "a validation split for model selection (the study chose on the test set) "
                           "and an attacker pool disjoint from the victim's data")

FIXED: tuple[Fixed, ...] = (
    Fixed("weight decay on batch-norm and bias parameters", "decayed like every weight", "exempt",
          "the standard practice; decaying scale and shift parameters only shrinks them", ("train",)),
    Fixed("membership distance", "L-inf size of the HopSkipJump perturbation, non-members filtered at "
          "0.999 confidence", "L2 boundary distance, no confidence filter",
          "a filter that drops uncertain non-members biases the AUC upwards; L2 is HopSkipJump's native norm",
          ("boundary",)),
    Fixed("membership AUC", "folded: max(AUC, 1 - AUC)", "unfolded", "folding biases the AUC above 0.5 under "
          "the null (about 0.546 at 50 + 50)", ("boundary", "loss_threshold", "lira")),
    Fixed("backdoor poisoning", "2% of each batch stamped and relabelled, as extra copies",
          "a fixed share of the training images relabelled, stamped after augmentation in every batch",
          "a fixed poisoned set is what a data-poisoning attacker controls", ("badnets", "trojannn", "trojannn_strong",
                                                                             "blended")),
    Fixed("backdoor fine-tuning rate", "constant 0.01", "cosine from 0.01 to 0",
          "the same schedule as victim training", ("badnets", "trojannn", "trojannn_strong", "blended")),
    Fixed("backdoor success rate", "over all triggered test images", "over triggered images not already of "
          "the target class", "the study's count is inflated by the target class's share", ("badnets", "trojannn",
                                                                                            "trojannn_strong", "blended")),
    Fixed("TrojanNN neurons", "the least active penultimate neurons on the training set",
          "the neurons with the largest outgoing classifier weights", "pooled heads have no connectivity to "
          "rank by; influential neurons make the trigger matter", ("trojannn", "trojannn_strong")),
    Fixed("TrojanNN trigger optimisation", "on the trigger alone, change capped at 1/255 by an eps-rescaling "
          "heuristic", "on the attacker's pool images, free in [0, 1]", "the cap was an accident of the study's "
          "code; a trigger is stamped onto images, so it is optimised on them", ("trojannn", "trojannn_strong")),
    Fixed("extraction query images", "drawn from the task's data, not held apart from the victim's",
          "an attacker pool disjoint from the victim's training, validation and test images",
          "an attacker does not hold the victim's training data", ("knockoff",)),
)
