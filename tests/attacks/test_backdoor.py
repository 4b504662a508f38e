"""Backdoors on a tiny model trained on the default data (600 mnist5k images): BadNets must work,
its controls must not, and TrojanNN's trigger optimisation must do what it claims."""
from __future__ import annotations

import pytest
import torch

from archrisk.attacks import get_attack, run_attack
from archrisk.attacks.backdoor import Trigger, corner_mask, poison_split
from archrisk.data import Split
from attack_helpers import context

# The study fine-tunes 20 epochs at lr 0.01 with 2% of 50k images stamped (~20k triggered presentations);
# 3 epochs over 600 images need a larger share and step to see the trigger a comparable number of times.
FAST = dict(finetune_epochs=3, rate=0.1, lr=0.05)


def test_poison_split_stamps_only_other_classes():
    gen = torch.Generator().manual_seed(0)
    split = Split(torch.rand(200, 1, 8, 8) * 0.5, torch.arange(10).repeat(20))
    trig = Trigger(corner_mask((1, 8, 8), 2), torch.ones(1, 8, 8), 1.0)
    out, idx = poison_split(split, trig, 0.1, 0, gen)
    assert len(idx) == 20 and (split.y[idx] != 0).all() and (out.y[idx] == 0).all()
    assert (out.x[idx][:, :, :2, :2] == 1).all() and torch.equal(out.x[idx][:, :, 2:], split.x[idx][:, :, 2:])
    rest = torch.ones(200, dtype=torch.bool)
    rest[idx] = False
    assert torch.equal(out.x[rest], split.x[rest]) and torch.equal(out.y[rest], split.y[rest])


def test_badnets_succeeds_and_keeps_clean_accuracy(mnist_victim, mnist_small):
    m = run_attack(None, "badnets", mnist_small, victim=mnist_victim, **FAST).metrics
    assert m["asr"] >= 0.9, m
    assert m["clean_drop"] <= 0.03, m
    # controls stay low: the trigger on the clean victim, and the backdoored model without the trigger
    assert m["asr_clean_model"] < 0.1 and m["target_rate_untriggered"] < 0.1, m


def test_trojannn_trigger_excites_its_neurons_and_implants(mnist_victim, mnist_small):
    # its blended, optimised pattern is dimmer than BadNets' white square: twice the fine-tuning
    atk = get_attack("trojannn", trigger_steps=30, trigger_images=64, **{**FAST, "finetune_epochs": 6})
    ctx = context(mnist_victim, mnist_small)
    model = mnist_victim.model.eval()
    neurons = atk.pick_neurons(model)
    trig = atk.trigger(ctx)
    untrained = Trigger(trig.mask, torch.rand(trig.pattern.shape, generator=ctx.generator(22)), trig.opacity)
    x = mnist_small.test.x[:200]
    with torch.no_grad():
        clean = model.penultimate(x)[:, neurons].mean()
        after = model.penultimate(trig.stamp(x))[:, neurons].mean()
        before = model.penultimate(untrained.stamp(x))[:, neurons].mean()
    assert after - clean > 2 * (before - clean) and after > before  # pooled features: small but real
    m = atk(ctx).metrics
    assert m["asr"] > 0.8 and m["asr"] > m["asr_clean_model"] + 0.5, m


@pytest.mark.parametrize("name", ["blended"])
def test_other_triggers_implant(name, mnist_victim, mnist_small):
    m = run_attack(None, name, mnist_small, victim=mnist_victim, **FAST).metrics
    assert m["asr"] > 0.8 and m["asr"] > m["asr_clean_model"] + 0.5, m
