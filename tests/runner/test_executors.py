"""Several jobs per GPU: the worker -> GPU map, pinning through CUDA_VISIBLE_DEVICES, and the
option's path from the command line to the executor (CPU-testable parts)."""
from __future__ import annotations

import multiprocessing as mp
import os

import pytest
from runner_fakes import study_toml

from archrisk.cli import main
from archrisk.errors import ArchriskError
from archrisk.runner.executors import ProcessExecutor, _pin, make_executor, worker_gpus


def test_consecutive_workers_share_a_gpu_round_robin() -> None:
    assert worker_gpus(6, 3, 2) == [0, 0, 0, 1, 1, 1]
    assert worker_gpus(5, 2, 2) == [0, 0, 1, 1, 0]
    assert worker_gpus(3, 1, 4) == [0, 1, 2]
    assert worker_gpus(2, 4, 0) == [None, None]  # no GPU: nothing to pin
    with pytest.raises(ArchriskError, match="--jobs-per-gpu must be >= 1, got 0"):
        worker_gpus(2, 0, 1)


def test_each_worker_claims_the_next_slot_and_sees_only_its_gpu(monkeypatch) -> None:
    slot = mp.get_context("spawn").Value("i", 0)
    seen = []
    for visible in (None, "4,6"):
        slot.value = 0
        for _ in range(4):
            if visible is None:
                monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
            else:
                monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
            _pin(slot, worker_gpus(4, 2, 2))
            seen.append(os.environ["CUDA_VISIBLE_DEVICES"])
    assert seen == ["0", "0", "1", "1", "4", "4", "6", "6"]  # physical ids map through the visible list


def test_cpu_pins_nothing_and_local_refuses_the_option() -> None:
    ex = ProcessExecutor(workers=2, device="cpu", jobs_per_gpu=2)
    try:
        assert ex._gpus == [None, None]
    finally:
        ex.close()
    with pytest.raises(ArchriskError, match="--jobs-per-gpu 2 needs --executor process or ray"):
        make_executor("local", 1, jobs_per_gpu=2)


def test_cli_passes_jobs_per_gpu_to_the_executor(tmp_path, capsys) -> None:
    study = tmp_path / "study.toml"
    study.write_text(study_toml(seeds=(0,), archs=("vgg13_bn",)))
    rc = main(["audit", str(study), "--store", str(tmp_path / "r.db"), "--jobs-per-gpu", "3"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "--jobs-per-gpu 3 needs --executor process or ray" in err
    rc = main(["audit", str(study), "--store", str(tmp_path / "r.db"), "-x", "process", "--jobs-per-gpu", "0"])
    assert rc == 2 and "--jobs-per-gpu must be >= 1, got 0" in capsys.readouterr().err
