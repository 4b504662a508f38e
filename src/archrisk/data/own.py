"""The user's own data: `npz:path/to/file.npz` and `folder:path/to/tree`, split like every dataset.

- npz: arrays `x` and `y` (or `x_train`/`y_train`, with optional `x_test`/`y_test` as the official
  test split) and optionally `classes` (strings). Images [N, C, H, W], [N, H, W] (grey) or
  [N, H, W, C] with C in 1 or 3; uint8 0..255 or float in [0, 1]. Read with allow_pickle=False.
- folder: one sub-folder per class holding PNG or JPEG images (`tree/cat/1.png`), or `train/` and
  `test/` sub-trees laid out that way (then `test/` is the official test split). Images are read
  with Pillow (already installed as a matplotlib dependency), converted to grey or RGB by the
  first image's mode and must all share one size. Class names are the sorted folder names.

Paths are relative to the working directory. `load.py` applies the same checks to these as to
every dataset (shape, range, labels, class coverage, images per class).
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from archrisk.data.raw import DatasetInfo, RawData, RawLoader
from archrisk.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_IMAGES = 2_000_000  # a folder tree this large is a mistake (a home directory), not a dataset


def _channels_first(x: np.ndarray, where: str) -> np.ndarray:
    if x.ndim == 3:
        return x[:, None]  # [N, H, W] -> [N, 1, H, W]
    if x.ndim == 4 and x.shape[1] not in (1, 3) and x.shape[-1] in (1, 3):
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # NHWC -> NCHW
    if x.ndim == 4:
        return x
    raise DataError(f"{where}: images have shape {x.shape}; expected [N, C, H, W], [N, H, W] or [N, H, W, C]")


def _npz(path: Path) -> RawData:
    where = f"npz file {str(path)!r}"
    if not path.is_file():
        raise DataError(f"{where} does not exist; give the path of an .npz with arrays x and y")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"{where} is not a readable .npz ({e}); save it with numpy.savez") from None
    keys = ("x_train", "y_train") if "x_train" in arrays else ("x", "y")
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise DataError(f"{where} lacks array {missing[0]!r}; it holds {sorted(arrays)}, expected x and y "
                        "(or x_train, y_train and optionally x_test, y_test)")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{where}: x_test and y_test come together; it has only one of them")
    x = _channels_first(arrays[keys[0]], where)
    xt = _channels_first(arrays["x_test"], f"{where} (test)") if "x_test" in arrays else None
    y, yt = arrays[keys[1]], arrays.get("y_test")
    labels = [a for a in (y, yt) if a is not None and a.size and np.issubdtype(a.dtype, np.integer)]
    k = max(int(a.max()) for a in labels) + 1 if labels else 1
    if "classes" in arrays:
        classes = tuple(str(c) for c in np.asarray(arrays["classes"]).reshape(-1))
    else:
        classes = tuple(str(i) for i in range(k))
    return RawData(x, y, xt, yt, classes)


def _read_image(path: Path, mode: str | None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert(mode or ("L" if im.mode in ("1", "L", "LA", "I", "I;16", "F") else "RGB"))
            a = np.asarray(im, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise DataError(f"image {str(path)!r} cannot be read ({e}); remove it or convert it to PNG") from None
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)  # [C, H, W]


def _tree(root: Path, classes: tuple[str, ...] | None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    where = f"image folder {str(root)!r}"
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    names = classes if classes is not None else tuple(p.name for p in dirs)
    if not names:
        raise DataError(f"{where} has no class sub-folders; lay it out as {root}/<class>/<image>.png")
    extra = sorted({p.name for p in dirs} - set(names))
    if extra:
        raise DataError(f"{where}: class folder {extra[0]!r} is not among the training classes {list(names)}")
    files = [(f, i) for i, c in enumerate(names) if (root / c).is_dir()
             for f in sorted((root / c).iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()]
    if len(files) > MAX_IMAGES:
        raise DataError(f"{where} holds over {MAX_IMAGES:,} images; point folder: at the dataset itself")
    if not files:
        raise DataError(f"{where} holds no PNG or JPEG images in its class folders")
    first = _read_image(files[0][0], None)
    mode = "L" if first.shape[0] == 1 else "RGB"
    images = []
    for f, _ in files:
        a = _read_image(f, mode)
        if a.shape != first.shape:
            raise DataError(f"image {str(f)!r} is {a.shape[2]}x{a.shape[1]}, but {str(files[0][0])!r} is "
                            f"{first.shape[2]}x{first.shape[1]}; resize them to one size")
        images.append(a)
    return np.stack(images), np.array([i for _, i in files], dtype=np.int64), names


def _folder(root: Path) -> RawData:
    if not root.is_dir():
        raise DataError(f"image folder {str(root)!r} does not exist; lay it out as <folder>/<class>/<image>.png")
    if (root / "train").is_dir() and (root / "test").is_dir():
        x, y, names = _tree(root / "train", None)
        xt, yt, _ = _tree(root / "test", names)
        return RawData(x, y, xt, yt, names)
    x, y, names = _tree(root, None)
    return RawData(x, y, None, None, names)


_SCHEMES: dict[str, Callable[[Path], RawData]] = {"npz": _npz, "folder": _folder}


def is_own(name: str) -> bool:
    return isinstance(name, str) and name.partition(":")[0] in _SCHEMES and ":" in name


def own_entry(name: str) -> tuple[DatasetInfo, RawLoader]:
    """Read the user's data once; the info is what the arrays say, the loader hands them back."""
    scheme, _, where = name.partition(":")
    if not where:
        raise DataError(f"dataset {name!r} names no path; write {scheme}:path/to/data")
    raw = _SCHEMES[scheme](Path(where).expanduser())
    x = raw.x_train
    shape = tuple(int(s) for s in x.shape[1:]) if x.ndim == 4 else (0, 0, 0)
    info = DatasetInfo(name, f"your own data from {where}", shape, len(raw.classes), needs_files=False)
    return info, lambda data_dir: raw
