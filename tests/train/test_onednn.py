"""The guard against oneDNN's faulty AVX2 kernel (train/onednn.py): a training that used to abort the
process now finishes, and only the models it guards change numerics (and checkpoint keys)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from archrisk.arch import build
from archrisk.arch.zoo import list_models
from archrisk.train import onednn, torch_threads

# A CPU with AVX2 runs oneDNN's AVX2 kernels when capped there; an AVX2 machine is unchanged by the cap.
needs_avx2 = pytest.mark.skipif(not (torch.cpu.get_capabilities().get("avx2") and torch.backends.mkldnn.is_available()),
                                reason="oneDNN's AVX2 kernels need an x86 CPU with AVX2")


@needs_avx2
def test_one_thread_training_through_the_faulty_kernel_exits_cleanly() -> None:
    # resnet18 at 50k parameters has a 4-channel 1x1 stride-2 shortcut; digits are 1-channel, so
    # cropped batches are channels-last. Without the guard this aborts in the first step
    # ("free(): invalid next size", exit -6) on every seed tried.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    proc = subprocess.run([sys.executable, "-c", "from archrisk.cli import run; run()", "train", "resnet18",
                           "--params", "50000", "-d", "digits", "--size", "tiny", "--epochs", "1", "--seed", "0",
                           "--no-cache", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '"test_acc"' in proc.stdout


def _resnet_at(params: int | None):
    from archrisk.data import load_dataset
    from archrisk.train import resolve_arch, resolve_recipe
    from archrisk.train.loop import initial_model

    ds = load_dataset("digits")
    return initial_model(resolve_arch("resnet18", "tiny", ds, params=params), ds, resolve_recipe("study", "tiny"),
                         "tiny")


def test_faulty_convolutions_are_1x1_strided_with_2_to_7_input_channels() -> None:
    assert onednn.faulty_convs(_resnet_at(50_000)) == ["net.features.4.shortcut.0"]  # 4 -> 8 channels, stride 2
    assert onednn.faulty_convs(torch.nn.Conv2d(4, 8, 1, stride=2)) == [""]
    for fine in (torch.nn.Conv2d(8, 8, 1, stride=2), torch.nn.Conv2d(1, 8, 1, stride=2), torch.nn.Conv2d(4, 8, 1),
                 torch.nn.Conv2d(4, 8, 3, stride=2), torch.nn.Conv2d(4, 4, 1, stride=2, groups=2)):
        assert onednn.faulty_convs(fine) == [], fine


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_no_zoo_model_at_its_preset_width_is_guarded(size: str) -> None:
    # so the guard leaves every default configuration's weights and checkpoint key as they were
    for entry in list_models():
        model = build(entry.name, size=size, num_classes=10, in_channels=1)
        assert onednn.faulty_convs(model) == [], entry.name


@pytest.mark.parametrize("cap, caps, expected", [
    ("", {"avx2": True}, True),  # an AVX2 CPU without AVX-512
    ("", {"avx2": True, "avx512_f": True, "avx512_bw": True, "avx512_dq": True, "avx512_vl": True}, False),
    ("AVX2", {"avx2": True, "avx512_f": True, "avx512_bw": True, "avx512_dq": True, "avx512_vl": True}, True),
    ("avx2_vnni", {"avx2": True, "avx512_f": True, "avx512_bw": True, "avx512_dq": True, "avx512_vl": True}, True),
    ("AVX", {"avx2": True}, False),
    ("AVX2", {"neon": True}, False),  # no AVX2 at all
])
def test_onednn_uses_avx2_reads_the_cpu_and_the_isa_cap(monkeypatch, cap, caps, expected) -> None:
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: caps)
    assert onednn.onednn_uses_avx2() is expected


def test_the_guard_turns_onednn_off_and_changes_keys_only_for_the_models_it_guards(digits, monkeypatch) -> None:
    import archrisk.train.loop as loop
    from archrisk.train import train_model

    seen = []  # oneDNN's state while each model trains (fit replaced: keys, not training)
    monkeypatch.setattr(loop, "fit", lambda *a, **kw: (seen.append(torch.backends.mkldnn.enabled), ([], 1))[1])
    monkeypatch.setattr(loop, "evaluate", lambda model, split: (0.0, 0.0))
    keys = {}
    for avx2 in (False, True):
        monkeypatch.setattr(onednn, "onednn_uses_avx2", lambda: avx2)
        with torch_threads(1):
            keys[avx2] = [train_model("resnet18", digits, size="tiny", seed=0, params=p, epochs=1, cache=False,
                                progress=False).key for p in (None, 50_000)]
    assert torch.backends.mkldnn.enabled  # restored after training
    assert seen == [True, True, True, False]  # off only while the model with a faulty convolution trains
    assert keys[True][0] == keys[False][0]  # resnet18 at its preset width: never guarded, key unchanged
    assert keys[True][1] != keys[False][1]  # at 50k parameters, guarded: a key of its own
