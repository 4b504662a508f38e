"""Safety of file reading: the restricted unpickler and in-memory tar reading."""
from __future__ import annotations

import io
import os
import pickle
import pickletools
import tarfile

import numpy as np
import pytest

from archrisk.data.files import maybe_gunzip, read_folder, read_tar, safe_unpickle
from archrisk.data.registry import get_dataset_entry
from archrisk.errors import DataError


class Reduce:
    """Pickles as a call of `fn(*args)`: what a hostile file would contain."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def globals_named(blob: bytes) -> set[str]:
    """The module.name pairs a pickle refers to (opcodes only; nothing is executed)."""
    out, strings = set(), []
    for op, arg, _ in pickletools.genops(blob):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif op.name == "STACK_GLOBAL":
            out.add(".".join(strings[-2:]))
        elif op.name in ("GLOBAL", "INST"):
            out.add(arg.replace(" ", "."))
    return out


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_refuses_os_system_and_runs_nothing(tmp_path, protocol):
    marker = tmp_path / "pwned"
    blob = pickle.dumps({b"data": Reduce(os.system, f"touch {marker}")}, protocol=protocol)
    assert any(g.endswith(".system") for g in globals_named(blob))  # the pickle really asks for it
    with pytest.raises(DataError, match="system.*not allowed"):
        safe_unpickle(blob, "evil")
    assert not marker.exists()
    with pytest.raises(DataError, match="^evil: "):  # the message names the file
        safe_unpickle(blob, "evil")


@pytest.mark.parametrize("protocol", [2, 4])
def test_side_effect_check_is_meaningful(tmp_path, protocol):
    # Same construction with a harmless side effect: plain pickle would create the file,
    # the restricted unpickler does not.
    marker = tmp_path / "created"
    blob = pickle.dumps([Reduce(open, str(marker), "w")], protocol=protocol)
    with pytest.raises(DataError):
        safe_unpickle(blob, "evil")
    assert not marker.exists()
    pickle.loads(blob)[0].close()
    assert marker.exists()


@pytest.mark.parametrize("make", [
    lambda m: Reduce(eval, f"open({str(m)!r}, 'w')"),
    lambda m: Reduce(exec, f"open({str(m)!r}, 'w')"),
    lambda m: Reduce(__import__, "subprocess"),
    lambda m: Reduce(getattr, "abc", "upper"),
    lambda m: Reduce(np.save, str(m), np.zeros(1)),  # numpy, but not an array constructor
])
def test_refuses_other_callables(tmp_path, make):
    marker = tmp_path / "side"
    with pytest.raises(DataError, match="not allowed"):
        safe_unpickle(pickle.dumps(make(marker), protocol=2), "evil")
    assert not marker.exists() and not (tmp_path / "side.npy").exists()


def test_codecs_encode_only_latin1():
    import codecs

    ok = pickle.dumps(Reduce(codecs.encode, "\xff\x00ab", "latin1"), protocol=2)
    assert safe_unpickle(ok, "x") == b"\xff\x00ab"
    bad = pickle.dumps(Reduce(codecs.encode, "abc", "rot13"), protocol=2)
    with pytest.raises(DataError, match="rot13"):
        safe_unpickle(bad, "x")


def test_persistent_ids_refused():
    buf = io.BytesIO()

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            return "x" if obj == "secret" else None

    P(buf, protocol=2).dump(["secret"])
    with pytest.raises(DataError, match="persistent"):
        safe_unpickle(buf.getvalue(), "x")


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_numpy_and_plain_containers_round_trip(protocol):
    obj = {b"data": np.arange(24, dtype=np.uint8).reshape(2, 12), "f": np.linspace(0, 1, 5, dtype=np.float32),
           "i": np.array([[-1, 2**40]], dtype=">i8"), "labels": [1, 2, 3], "t": (None, True, 1.5, "s"),
           "scalar": np.int64(7), "empty": np.zeros((0, 3), dtype=np.uint8), "fortran": np.asfortranarray(np.eye(3))}
    blob = pickle.dumps(obj, protocol=protocol)
    got = safe_unpickle(blob, "x")
    ref = pickle.loads(blob, encoding="bytes")  # our own data: the unrestricted reference is safe here
    assert got.keys() == obj.keys()
    for k, v in obj.items():
        if isinstance(v, np.ndarray):
            # numpy itself turns '>i8' into native int64 below protocol 5, hence the reference dtype
            assert got[k].dtype == ref[k].dtype and np.array_equal(got[k], v), k
        else:
            assert got[k] == v, k


def test_py2_style_pickle(fmt):
    x = np.arange(300, dtype=np.uint8).reshape(3, 100)
    got = safe_unpickle(fmt.py2_pickle({b"data": x, b"labels": [1, 2, 3], b"names": [b"cat"]}), "x")
    assert np.array_equal(got[b"data"], x) and got[b"labels"] == [1, 2, 3] and got[b"names"] == [b"cat"]


@pytest.mark.parametrize("blob", [b"", b"not a pickle", pickle.dumps([1, 2, 3])[:-3], b"\x80\x05\x95garbage"])
def test_garbage_is_a_data_error(blob):
    with pytest.raises(DataError):
        safe_unpickle(blob, "x")


def test_malicious_cifar_batch_through_load_dataset(tmp_path, fmt):
    marker = tmp_path / "pwned"
    written = fmt.cifar10(tmp_path / "d", "python", archive=False)
    (written.path / "data_batch_1").write_bytes(pickle.dumps(Reduce(os.system, f"touch {marker}"), protocol=2))
    with pytest.raises(DataError, match="data_batch_1"):
        get_dataset_entry("cifar10")[1](tmp_path / "d")
    assert not marker.exists()


# --- tar archives are read in memory, never extracted ---------------------------------------

def _tar(path, members: dict[str, bytes], links: dict[str, str] | None = None):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)


def snapshot(*roots):
    return {r: sorted(p for p in r.rglob("*")) for r in roots}


def test_tar_traversal_names_extract_nothing(tmp_path, monkeypatch):
    work = tmp_path / "data" / "inner"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    evil_abs = tmp_path / "abs_evil"
    archive = work / "x.tar.gz"
    _tar(archive, {"../evil": b"x", "../../evil2": b"y", str(evil_abs): b"z", "a/../../../b": b"w",
                   "ok/train.bin": b"good"})
    before = snapshot(tmp_path)
    got = read_tar(archive, ("train.bin", "evil"))
    assert got["train.bin"] == b"good"
    assert snapshot(tmp_path) == before  # nothing written anywhere
    assert not (tmp_path / "data" / "evil").exists() and not evil_abs.exists()


def test_tar_symlink_member_is_not_followed(tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(b"private")
    archive = tmp_path / "cifar-100-binary.tar.gz"
    _tar(archive, {"cifar-100-binary/train.bin": b"", "cifar-100-binary/fine_label_names.txt": b""},
         links={"cifar-100-binary/test.bin": str(secret)})
    with pytest.raises(DataError, match="lacks test.bin"):
        read_tar(archive, ("train.bin", "test.bin", "fine_label_names.txt"))


def test_cifar_tar_with_traversal_members_loads_without_writing(tmp_path, fmt):
    """A real-format archive whose members carry '../' prefixes: read fine, nothing lands outside."""
    written = fmt.cifar10(tmp_path / "scratch", "binary", archive=False)
    files = {p.name: p.read_bytes() for p in written.path.iterdir()}
    d = tmp_path / "d"
    d.mkdir()
    _tar(d / "cifar-10-binary.tar.gz", {f"../../{n}": b for n, b in files.items()})
    before = snapshot(tmp_path)
    raw = get_dataset_entry("cifar10")[1](d)
    assert np.array_equal(raw.x_train, written.x_train)
    assert snapshot(tmp_path) == before


def test_read_folder_and_gunzip(tmp_path):
    import gzip

    (tmp_path / "a").write_bytes(b"1")
    assert read_folder(tmp_path, ("a",)) == {"a": b"1"}
    with pytest.raises(DataError, match="lacks b, c"):
        read_folder(tmp_path, ("a", "b", "c"))
    assert maybe_gunzip(gzip.compress(b"hello"), "x") == b"hello"
    assert maybe_gunzip(b"hello", "x") == b"hello"
    with pytest.raises(DataError, match="decompress"):
        maybe_gunzip(gzip.compress(b"hello" * 100)[:-10], "x")


def test_bytes_constructor_only_for_empty_bytes():
    assert safe_unpickle(pickle.dumps(b"", protocol=2), "x") == b""
    with pytest.raises(DataError, match="bytes"):
        safe_unpickle(pickle.dumps(Reduce(bytes, 10**12), protocol=2), "x")
