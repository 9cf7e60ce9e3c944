"""Every writer refuses to replace a special file, follows a symlink to a regular file,
reports a full disk naming the user's path, follows the umask and names the user's
path (not a temporary file) when the folder cannot be written (issue 25, items 1 and 11).

Special files are made in a temporary folder (a FIFO, symlinks); a full disk is
simulated by making ``os.fsync``/writes raise ENOSPC. No real device file is touched.
"""
import errno
import os
import stat

import numpy as np
import pytest
from networks import xor_like

from ebana import ValidationError
from ebana.saving import safe_io
from ebana.saving.safe_io import WriteError
from ebana.training import MSE, Adam
from ebana.training.fit import fit
from ebana.training.history import History

X = np.array([[0.1, -0.2], [0.3, 0.4]])
Y = np.array([[0.1], [-0.1]])


def _history():
    h = History()
    h.append({"loss": 1.0})
    return h


def _opt():
    opt = Adam()
    opt.step({"d1": np.full(3, 5e-5)}, {"d1": np.ones(3)}, lrs={"d1": 1e-6})
    return opt


# name -> function(model, path) that writes ``path``
WRITERS = {
    "save": lambda m, p: m.save(p),
    "save_weights": lambda m, p: m.save_weights(p),
    "history": lambda m, p: _history().save(p),
    "optimizer_state": lambda m, p: _opt().save_state(p),
    "write_netlist": lambda m, p: m.write_netlist(p, {"x": X[0]}),
    "checkpoint": lambda m, p: fit(m, {"x": X, "out": Y}, 1, MSE(), Adam(), 1e-6, verbose=False, checkpoint=p),
}


@pytest.fixture(scope="module")
def model():
    return xor_like("native", seed=1)


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_fifo_is_refused_and_stays_a_fifo(tmp_path, model, writer):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValidationError, match=r"pipe.*a FIFO"):
        WRITERS[writer](model, fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["pipe"]  # no temporary file left behind


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_symlink_to_a_fifo_is_refused_and_both_stay(tmp_path, model, writer):
    fifo, link = tmp_path / "pipe", tmp_path / "link"
    os.mkfifo(fifo)
    link.symlink_to(fifo)
    with pytest.raises(ValidationError, match=r"link.*a FIFO.*through the symlink"):
        WRITERS[writer](model, link)
    assert os.path.islink(link) and stat.S_ISFIFO(os.lstat(fifo).st_mode)


# fit(checkpoint=) resumes from an existing file, so it is given a link to a new file
@pytest.mark.parametrize("writer", sorted(set(WRITERS) - {"checkpoint"}))
def test_a_symlink_to_a_regular_file_is_followed_and_kept(tmp_path, model, writer):
    target, link = tmp_path / "real.bin", tmp_path / "link"
    target.write_bytes(b"old")
    link.symlink_to(target)
    WRITERS[writer](model, link)
    assert os.path.islink(link) and target.read_bytes() != b"old"


def test_a_checkpoint_through_a_symlink_to_a_new_file_is_written_there(tmp_path, model):
    target, link = tmp_path / "real.pkl", tmp_path / "link"
    link.symlink_to(target)
    WRITERS["checkpoint"](model, link)
    assert os.path.islink(link) and target.stat().st_size > 0


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_full_disk_is_reported_naming_the_path_and_the_old_file_stays(tmp_path, model, writer, monkeypatch):
    path = tmp_path / "out.bin"
    old = b"" if writer == "checkpoint" else b"old"  # fit would resume from an existing checkpoint
    if old:
        path.write_bytes(old)
        os.chmod(path, 0o444)  # a read-only regular file is replaced like any regular file

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    # fsync for the pickles and the netlist; h5py writes with its own calls, so its
    # file is made to fail when it is opened for writing instead
    monkeypatch.setattr(os, "fsync", full)
    if writer == "history":
        import h5py
        monkeypatch.setattr(h5py, "File", full)
    with pytest.raises(WriteError, match=r"out\.bin.*disk is full") as info:
        WRITERS[writer](model, path)
    assert info.value.errno == errno.ENOSPC
    assert sorted(os.listdir(tmp_path)) == (["out.bin"] if old else [])
    assert not old or path.read_bytes() == old


@pytest.mark.parametrize("writer", ["save_weights", "history", "write_netlist", "optimizer_state"])
def test_an_unwritable_folder_names_the_users_path(tmp_path, model, writer):
    (tmp_path / "f.txt").write_text("")
    path = tmp_path / "f.txt" / "out.bin"  # a "folder" that is a file: not writable even for root
    with pytest.raises((ValidationError, WriteError), match=r"'[^']*f\.txt/out\.bin'.*not writable") as info:
        WRITERS[writer](model, path)
    assert ".tmp" not in str(info.value)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_files_follow_the_umask(tmp_path, model, umask):
    old = os.umask(umask)
    try:
        for name, write in WRITERS.items():
            write(model, tmp_path / name)
            assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o666 & ~umask, name
    finally:
        os.umask(old)


def test_check_writable_refuses_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "p")
    with pytest.raises(ValidationError, match="a FIFO"):
        safe_io.check_writable(tmp_path / "p", "checkpoint")


@pytest.mark.parametrize("writer", ["save", "save_weights", "optimizer_state", "checkpoint"])
def test_a_flipped_byte_is_detected_by_the_checksum(tmp_path, model, writer):
    path = tmp_path / "f.pkl"
    WRITERS[writer](model, path)
    data = bytearray(path.read_bytes())
    assert data.startswith(safe_io.CHECKSUM_TAG)
    data[len(data) // 2] ^= 0x01  # one bit in the middle of the pickled arrays
    path.write_bytes(bytes(data))
    with pytest.raises(ValidationError, match=r"f\.pkl.*damaged.*checksum"):
        safe_io.safe_load_pickle(path)


def test_a_file_without_checksum_from_before_is_still_read(tmp_path, model):
    import pickle
    path = tmp_path / "w.pkl"
    model.save_weights(path)
    old = path.read_bytes()[len(safe_io.CHECKSUM_TAG) + 65:]  # the plain pickle older versions wrote
    assert pickle.loads(old)["format"] == "ebana-weights"
    path.write_bytes(old)
    before = model.get_weights()
    model.load_weights(path)
    for k, v in before.items():
        np.testing.assert_array_equal(model.get_weights()[k], v)


def test_csv_logger_refuses_a_fifo_before_training(tmp_path, model):
    from ebana.training.callbacks import CSVLogger
    fifo = tmp_path / "log.csv"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # so a regression fails instead of blocking in open()
    try:
        with pytest.raises(ValidationError, match=r"log\.csv.*a FIFO"):
            fit(model, {"x": X, "out": Y}, 1, MSE(), Adam(), 1e-6, verbose=False, callbacks=[CSVLogger(fifo)])
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_device_node_is_refused(tmp_path, model, writer, monkeypatch):
    """/dev/full's case without touching a device: os.stat reports a character device
    for a path in the temporary folder (an OS answer injected, nothing created)."""
    path = tmp_path / "full"
    path.write_bytes(b"")
    real = os.stat

    def device_stat(p, *args, **kwargs):
        st = real(p, *args, **kwargs)
        if os.fspath(p) == str(path):
            return os.stat_result((stat.S_IFCHR | 0o666,) + tuple(st)[1:])
        return st

    monkeypatch.setattr(os, "stat", device_stat)
    with pytest.raises(ValidationError, match=r"full.*a device"):
        WRITERS[writer](model, path)
    assert path.read_bytes() == b""
