"""Label flipping: exact flip counts, always-wrong labels, and an accuracy drop that must grow."""
from __future__ import annotations

import torch
from attack_helpers import VICTIM_THREADS

from archrisk.attacks import run_attack
from archrisk.attacks.poisoning import flip_labels
from archrisk.train import torch_threads


def test_flip_labels_are_wrong_uniform_and_counted():
    y = torch.arange(10).repeat(2000)  # 20k labels
    out, idx = flip_labels(y, 0.3, 10, torch.Generator().manual_seed(0))
    changed = (out != y).nonzero().flatten()
    assert torch.equal(changed, idx) and len(idx) == 6000  # every chosen label moved, no other
    # the new label is uniform over the 9 wrong classes: shift counts ~ 6000/9 each
    shift = (out[idx] - y[idx]) % 10
    counts = torch.bincount(shift, minlength=10)
    assert counts[0] == 0 and (counts[1:] - 6000 / 9).abs().max() < 4 * (6000 / 9) ** 0.5
    again, _ = flip_labels(y, 0.3, 10, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    assert torch.equal(flip_labels(y, 0.0, 10, torch.Generator())[0], y)


def test_accuracy_drop_grows_with_fraction(digits_victim, digits):
    """At 95% flipped, each wrong class holds ~10.6% of a class's labels against 5% for the true one,
    so a model that fits its data must fall below chance; at 0% the retrained model is the victim."""
    with torch_threads(VICTIM_THREADS):  # the same thread count as the victim: fraction 0 retrains it exactly
        drops = {f: run_attack(None, "label_flip", digits, victim=digits_victim, fraction=f).metrics
                 for f in (0.0, 0.5, 0.95)}
    assert abs(drops[0.0]["acc_drop"]) < 0.02
    assert drops[0.0]["reference_acc"] == digits_victim.test_acc
    assert drops[0.95]["acc_drop"] > drops[0.5]["acc_drop"] + 0.3
    assert drops[0.95]["clean_acc"] < 0.2
    assert drops[0.5]["acc_drop"] >= drops[0.0]["acc_drop"] - 0.02
