"""Inference helpers that the simulation tests do not pin on their own."""
import math

import numpy as np
import pytest
from scipy import stats

from archrisk.stats import inference


def test_seed_agreement_with_extra_seeds_on_a_few_architectures() -> None:
    """Four of twelve architectures on five seeds, the rest on two: the agreement is that of the seeds
    most architectures share, not undefined (no architecture outside the four has every seed)."""
    rng = np.random.default_rng(0)
    true = rng.normal(size=12)
    per = {f"a{i}": {s: true[i] + 0.3 * rng.normal() for s in (range(5) if i < 4 else range(2))} for i in range(12)}
    rho, k = inference.seed_agreement(per)
    two = {a: {s: v[s] for s in (0, 1)} for a, v in per.items()}
    assert k == 2 and math.isfinite(rho)
    assert rho == pytest.approx(inference.seed_agreement(two)[0], abs=0.25)
    # equal seeds: the plain mean of the pairwise rhos
    eq = {a: {s: true[i] + 0.3 * rng.normal() for s in range(3)} for i, a in enumerate(per)}
    t = np.asarray([[v[s] for s in range(3)] for v in eq.values()])
    plain = np.mean([stats.spearmanr(t[:, i], t[:, j])[0] for i, j in ((0, 1), (0, 2), (1, 2))])
    assert inference.seed_agreement(eq) == (pytest.approx(plain), 3)


def test_pairs_of_few_architectures_do_not_outvote_the_shared_seeds() -> None:
    """Twenty architectures on seeds 0 and 1 rank alike; four of them get three extra seeds that rank
    them backwards. The nine extra pairs hold 36 architecture pairs against the shared pair's 20:
    they must not decide the agreement, which is that of the seeds every architecture has."""
    rng = np.random.default_rng(1)
    true = rng.normal(size=20)
    per = {f"a{i}": {0: true[i] + 0.1 * rng.normal(), 1: true[i] + 0.1 * rng.normal()} for i in range(20)}
    for i in range(4):
        per[f"a{i}"].update({s: -true[i] for s in (2, 3, 4)})
    two = {a: {s: v[s] for s in (0, 1)} for a, v in per.items()}
    assert inference.seed_agreement(two)[0] > 0.9
    assert inference.seed_agreement(per) == (pytest.approx(inference.seed_agreement(two)[0], abs=1e-12), 2)
