"""Your own data: an .npz of arrays and an image-folder tree, split, checked and audited like the zoo's."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from archrisk.data import load_dataset
from archrisk.errors import ArchriskError, DataError, InvalidValueError

pytestmark = pytest.mark.usefixtures("one_thread")


def _arrays(n_per_class: int = 30, classes: int = 3, side: int = 8, seed: int = 0):
    """Classes told apart by which third of the image is bright (learnable in one epoch)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), n_per_class)
    x = rng.integers(0, 60, size=(len(y), side, side)).astype(np.uint8)
    band = side // classes
    for i, c in enumerate(y):
        x[i, :, c * band:(c + 1) * band] += 180
    return x, y


def _npz(tmp_path, **kw):
    x, y = _arrays(**kw)
    path = tmp_path / "mine.npz"
    np.savez_compressed(path, x=x, y=y, classes=np.array(["left", "middle", "right"]))
    return path, x, y


def _folder(tmp_path, fmt: str = "png"):
    from PIL import Image

    x, y = _arrays()
    names = ("left", "middle", "right")
    for i, (img, c) in enumerate(zip(x, y)):
        d = tmp_path / "tree" / names[c]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img, mode="L").save(d / f"{i:03d}.{fmt}")
    return tmp_path / "tree", x, y


def test_npz_loads_with_the_same_seeded_splits(tmp_path):
    path, x, y = _npz(tmp_path)
    a = load_dataset(f"npz:{path}", split_seed=1)
    b = load_dataset(f"npz:{path}", split_seed=1)
    c = load_dataset(f"npz:{path}", split_seed=2)
    assert a.classes == ("left", "middle", "right") and a.shape == (1, 8, 8)
    assert sum(len(s) for s in a.splits.values()) == len(y)
    assert torch.equal(a.train.x, b.train.x) and not torch.equal(a.train.x, c.train.x)
    assert torch.equal(a.test.x, c.test.x)  # carved with a fixed seed, as for digits
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    # pixels are the file's, scaled to [0, 1]
    flat = {tuple((row * 255).round().to(torch.uint8).flatten().tolist()) for row in a.train.x}
    assert flat <= {tuple(r.flatten().tolist()) for r in x}


def test_image_folder_equals_the_same_images_as_npz(tmp_path):
    root, x, y = _folder(tmp_path)
    path, _, _ = _npz(tmp_path)
    f, n = load_dataset(f"folder:{root}"), load_dataset(f"npz:{path}")
    assert f.classes == n.classes
    for k in ("train", "val", "test", "pool"):
        assert torch.equal(f.splits[k].x, n.splits[k].x) and torch.equal(f.splits[k].y, n.splits[k].y)


def test_own_data_round_trips_through_a_study_and_its_report(tmp_path):
    from archrisk.report import write_report
    from archrisk.runner import audit
    from archrisk.store import Store

    root, _, _ = _folder(tmp_path)
    path, _, _ = _npz(tmp_path)
    for name in (f"npz:{path}", f"folder:{root}"):
        store = tmp_path / f"{name[:3]}.db"
        study = f"""
name = "own"
seeds = [0]
size = "tiny"
archs = ["resnet18"]
[data]
name = "{name}"
[recipe]
epochs = 4
batch_size = 16
[[attacks]]
name = "pgd"
params = {{ n = 10, eps = 0.5, alpha = 0.1, steps = 10, targeted = false }}
"""
        s = audit(study, store, progress=False)
        assert s.complete and not s.failures
        db = Store(store)
        rows = db.conn.execute("SELECT r.value FROM tidy r JOIN jobs j ON j.id = r.job_id "
                               "WHERE j.name = 'pgd' AND r.key = 'success_rate'").fetchall()
        acc = db.conn.execute("SELECT r.value FROM tidy r JOIN jobs j ON j.id = r.job_id "
                              "WHERE j.kind = 'train' AND r.key = 'test_acc'").fetchall()
        assert len(rows) == 1 and 0 < rows[0][0] <= 1 and acc[0][0] > 0.5
        index = write_report(store, tmp_path / f"report-{name[:3]}")
        assert "resnet18" in index.read_text()


@pytest.mark.parametrize("case, words", [
    ("missing_file", "does not exist"),
    ("not_npz", "not a readable .npz"),
    ("no_y", "lacks array 'y'"),
    ("missing_class", "has no training images"),
    ("few_images", "only 3 training images"),
    ("one_class", "at least 2"),
    ("range", "expected [0, 1]"),
    ("nan", "NaN"),
    ("shape", "expected [N, C, H, W]"),
    ("folder_missing", "does not exist"),
    ("folder_empty", "no class sub-folders"),
    ("folder_sizes", "resize them to one size"),
    ("folder_bad_image", "cannot be read"),
    ("no_path", "names no path"),
    ("list", "must be one name"),
])
def test_bad_own_data_is_one_line(tmp_path, case, words):
    x, y = _arrays()
    p = tmp_path / "d.npz"
    name = f"npz:{p}"
    if case == "missing_file":
        name = f"npz:{tmp_path / 'nope.npz'}"
    elif case == "not_npz":
        p.write_text("hello")
    elif case == "no_y":
        np.savez(p, x=x)
    elif case == "missing_class":
        y = y.copy()
        y[y == 1] = 2
        np.savez(p, x=x, y=y, classes=np.array(["a", "b", "c"]))
    elif case == "few_images":
        keep = np.r_[np.arange(0, 30), np.arange(30, 33), np.arange(60, 90)]
        np.savez(p, x=x[keep], y=y[keep])
    elif case == "one_class":
        np.savez(p, x=x, y=np.zeros_like(y))
    elif case == "range":
        np.savez(p, x=x.astype(np.float32), y=y)
    elif case == "nan":
        xf = x.astype(np.float32) / 255
        xf[0, 0, 0] = np.nan
        np.savez(p, x=xf, y=y)
    elif case == "shape":
        np.savez(p, x=x.reshape(len(x), -1), y=y)
    elif case.startswith("folder"):
        root = tmp_path / "tree"
        name = f"folder:{root}"
        if case != "folder_missing":
            root.mkdir()
        if case in ("folder_sizes", "folder_bad_image"):
            from PIL import Image
            (root / "a").mkdir()
            Image.fromarray(x[0]).save(root / "a" / "0.png")
            if case == "folder_sizes":
                Image.fromarray(np.zeros((9, 9), np.uint8)).save(root / "a" / "1.png")
            else:
                (root / "a" / "1.png").write_bytes(b"not a png")
    elif case == "no_path":
        name = "npz:"
    elif case == "list":
        name = [f"npz:{p}"]
    with pytest.raises(ArchriskError) as e:
        load_dataset(name)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_limit_below_the_class_count_is_refused(tmp_path):
    path, _, _ = _npz(tmp_path)
    with pytest.raises(InvalidValueError, match="limit=2"):
        load_dataset(f"npz:{path}", limit=2)


def test_data_error_class_is_kept():
    with pytest.raises(DataError):
        load_dataset("npz:/definitely/not/here.npz")
