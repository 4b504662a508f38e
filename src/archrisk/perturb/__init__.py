"""Functional cores of input perturbation: the threat model's geometry (`ball`), the one PGD loop
and the attacks' PGD (`pgd`), APGD (`apgd`) and black-box NES (`nes`).

Pure functions on a model and a batch: no configs, no registries, no bookkeeping beyond one batch.
It sits below training, which crafts its adversarial examples with `pgd_loop`, and below the
attacks, whose evasion configs (`archrisk.attacks.evasion`) call these cores.
"""
from archrisk.perturb.apgd import apgd, apgd_checkpoints
from archrisk.perturb.ball import ascent, clip, linf_box, project, random_start, uniform_noise
from archrisk.perturb.nes import nes
from archrisk.perturb.pgd import CONFIDENCE, Crafted, input_grad, objective, pgd, pgd_loop, succeeded

__all__ = ["CONFIDENCE", "Crafted", "apgd", "apgd_checkpoints", "ascent", "clip", "input_grad", "linf_box", "nes",
           "objective", "pgd", "pgd_loop", "project", "random_start", "succeeded", "uniform_noise"]
