"""The one PGD loop: plain steps, samples taken out of play keep their iterate, the judge sees
every iterate, and the gradient is asked only for the samples in play."""
from __future__ import annotations

import torch

from archrisk.perturb import clip, linf_box, pgd_loop


def _linear():
    torch.manual_seed(0)
    w = torch.randn(16)
    g = torch.Generator().manual_seed(1)
    return w, torch.rand(6, 16, generator=g) * 0.5 + 0.25


def _gradient(w, asked):
    def gradient(xs, sel):  # the objective w.x has gradient w for every sample
        asked.append(len(xs))
        return xs @ w, w.expand_as(xs).clone()
    return gradient


def test_plain_steps_walk_to_the_corner_of_the_ball():
    w, x = _linear()
    lo, hi = linf_box(x, 0.1)
    asked = []
    out = pgd_loop(x, _gradient(w, asked), lambda xs, sel: clip(xs, lo[sel], hi[sel]), alpha=0.03, steps=3)
    torch.testing.assert_close(out, x + 0.09 * w.sign())  # 3 steps of 0.03, not yet at eps
    out = pgd_loop(x, _gradient(w, asked), lambda xs, sel: clip(xs, lo[sel], hi[sel]), alpha=0.03, steps=5)
    torch.testing.assert_close(out, x + 0.1 * w.sign())  # then held at the face
    assert asked == [6] * 8 and not out.requires_grad


def test_samples_out_of_play_keep_their_iterate():
    w, x = _linear()
    lo, hi = linf_box(x, 1.0)
    project = lambda xs, sel: clip(xs, lo[sel], hi[sel])  # noqa: E731
    seen = []

    def judge(t, xs, logits, active, sel):
        seen.append((t, active.tolist(), logits is None))
        return active == t  # sample t leaves play at iterate t

    asked = []
    out = pgd_loop(x, _gradient(w, asked), project, alpha=0.01, steps=4, judge=judge)
    for i in range(6):  # sample i took min(i, 4) steps
        alone = pgd_loop(x[i:i + 1], _gradient(w, []), lambda xs, sel: clip(xs, lo[i:i + 1], hi[i:i + 1]),
                       alpha=0.01, steps=min(i, 4))
        torch.testing.assert_close(out[i:i + 1], alone)
    assert asked == [6, 5, 4, 3]  # the gradient only for samples still in play
    assert seen[-1] == (4, [4, 5], True)  # the last iterate judged too, without a gradient
    assert [s[0] for s in seen] == [0, 1, 2, 3, 4]
