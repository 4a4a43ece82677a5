"""tn.load says what is wrong with a file it cannot read (naming the path, never suggesting unpickling), and
tn.save replaces an existing file atomically: a save that fails midway leaves the old file intact."""
import os
import zipfile

import numpy as np
import pytest

import tinynet as tn
import tinynet.serialization as serialization
from tinynet import nn


def _saved(tmp_path):
    path = tmp_path / "model.npz"
    tn.save({"w": np.arange(600.0).reshape(20, 30), "b": np.ones(3, np.float32)}, path)
    return path


def _load_error(path):
    with pytest.raises(ValueError) as info:
        tn.load(path)
    message = str(info.value)
    assert str(path) in message                                       # names the file
    assert "pickle" not in message.replace(str(path), "").lower()    # never suggests unpickling
    error = info.value                                                # nor through a chained NumPy error
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    return message


def test_an_empty_file(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    assert "is empty (0 bytes)" in _load_error(path)


@pytest.mark.parametrize("keep", [0.5, 0.9, -1])
def test_a_truncated_file(tmp_path, keep):
    path = _saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)] if keep > 0 else data[:keep])
    assert "cut off" in _load_error(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.npz"
    path.write_bytes(np.random.default_rng(0).bytes(1000))
    assert "is not a file written by tn.save" in _load_error(path)


def test_a_pickle_file(tmp_path):
    import pickle
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"w": np.ones(2)}))
    assert "is not a file written by tn.save" in _load_error(path)


def test_a_single_npy_array(tmp_path):
    path = tmp_path / "weights.npy"
    np.save(path, np.ones(3))
    message = _load_error(path)
    assert "a single array (a .npy file" in message and "np.load" in message


def test_a_changed_byte_inside_a_member(tmp_path):
    path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF                                     # inside w's values: the CRC check fails
    path.write_bytes(bytes(data))
    assert "member 'w.npy' is damaged" in _load_error(path)


def test_a_member_that_is_not_an_array(tmp_path):
    path = tmp_path / "odd.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("w.npy", b"not an array")
    assert "member 'w.npy' is not a .npy array" in _load_error(path)


def test_a_member_of_python_objects_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "objects.npz"
    with zipfile.ZipFile(path, "w") as archive, archive.open("w.npy", "w") as member:
        np.lib.format.write_array(member, np.array([{"code": 1}], dtype=object), allow_pickle=True)
    assert "array of Python objects" in _load_error(path)


def test_compressed_npz_from_numpy_still_loads(tmp_path):
    path = tmp_path / "np.npz"
    np.savez_compressed(path, a=np.arange(4))
    np.testing.assert_array_equal(tn.load(path)["a"], np.arange(4))


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        tn.load(tmp_path / "missing.npz")


# ---- atomic save --------------------------------------------------------------------------------------------
def test_a_save_that_fails_midway_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = _saved(tmp_path)
    before = path.read_bytes()
    real_write = np.lib.format.write_array
    calls = []

    def write_then_fail(*args, **kwargs):                         # the disk fills up on the second array
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_write(*args, **kwargs)
    monkeypatch.setattr(np.lib.format, "write_array", write_then_fail)
    with pytest.raises(OSError, match="No space left"):
        tn.save({"w": np.zeros((20, 30)), "b": np.zeros(3, np.float32)}, path)
    assert len(calls) == 2                                        # the failure really came midway
    assert path.read_bytes() == before                            # the old file is intact ...
    assert os.listdir(tmp_path) == ["model.npz"]                  # ... and no temporary file is left
    np.testing.assert_array_equal(tn.load(path)["w"], np.arange(600.0).reshape(20, 30))


def test_an_interrupted_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = _saved(tmp_path)
    before = path.read_bytes()

    def interrupted(file, arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt
    monkeypatch.setattr(serialization, "_write_npz", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tn.save({"w": np.zeros(2)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model.npz"]


def test_save_writes_through_a_synced_temporary_then_renames(tmp_path, monkeypatch):
    path = tmp_path / "new.npz"
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", os.path.dirname(a))),
                                                     real_replace(a, b))[1])
    tn.save({"w": np.ones(2)}, path)
    assert events == ["fsync", ("replace", str(tmp_path))]        # synced first, renamed within the directory
    np.testing.assert_array_equal(tn.load(path)["w"], np.ones(2))


def test_a_saved_file_gets_the_permissions_of_an_ordinary_new_file(tmp_path):
    path = tmp_path / "model.npz"
    tn.save({"w": np.ones(2)}, path)
    (tmp_path / "plain").write_bytes(b"")
    assert path.stat().st_mode == (tmp_path / "plain").stat().st_mode


def test_module_save_is_atomic_too(tmp_path, monkeypatch):
    model = nn.Linear(2, 2)
    path = tmp_path / "m.npz"
    model.save(path)
    before = path.read_bytes()
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(5, "I/O error")))
    with pytest.raises(OSError):
        nn.Linear(2, 2).save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.npz"]


def test_saving_through_a_symlink_replaces_its_target_and_keeps_modes(tmp_path):
    real = tmp_path / "real.npz"
    tn.save({"w": np.ones(2)}, real)
    os.chmod(real, 0o600)                               # a private checkpoint stays private
    link = tmp_path / "latest.npz"
    link.symlink_to(real)
    tn.save({"w": np.zeros(2)}, link)
    assert link.is_symlink() and (os.stat(real).st_mode & 0o777) == 0o600
    np.testing.assert_array_equal(tn.load(real)["w"], np.zeros(2))
