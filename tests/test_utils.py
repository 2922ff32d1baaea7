"""The bottom layer: devices, seeds and random streams, suggestions, atomic writes, the network check."""

from __future__ import annotations

import errno
import os
import socket
import threading

import pytest
import torch

from mae_lab import utils


def test_module_device_reads_the_parameters_and_defaults_to_the_cpu():
    assert utils.module_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert utils.module_device(torch.nn.Linear(2, 2, device="meta")) == torch.device("meta")
    assert utils.module_device(torch.nn.ReLU()) == torch.device("cpu")  # no parameters


def test_generators_are_reproducible_and_streams_independent():
    a = torch.rand(4, generator=utils.generator(0, 5, utils.Stream.MASK))
    b = torch.rand(4, generator=utils.generator(0, 5, utils.Stream.MASK))
    c = torch.rand(4, generator=utils.generator(0, 5, utils.Stream.AUGMENT))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert utils.mix_seed(1, 2) != utils.mix_seed(2, 1)
    assert len({int(s) for s in utils.Stream}) == len(utils.Stream)  # no two streams share an id


def test_suggest_names_the_close_choices_only():
    assert utils.suggest("blok", ["random", "block", "grid"]) == " Did you mean 'block'?"
    assert utils.suggest("xyz", ["random", "block"]) == ""


def test_deprecated_alias_warns_with_both_names():
    with pytest.deprecated_call(match="'old' in here is deprecated; use 'new'"):
        utils.deprecated_alias("old", "new", "here", stacklevel=2)


def test_atomic_write_replaces_whole_files_and_keeps_the_old_one_on_failure(tmp_path):
    target = tmp_path / "file.txt"
    utils.atomic_write(target, "first")
    utils.atomic_write(target, b"second")
    assert target.read_text() == "second"

    def full_disk(tmp):
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        utils.atomic_write(target, full_disk)
    assert target.read_text() == "second"  # the previous version survived
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]  # no temporary file left behind
    assert oct(os.stat(target).st_mode & 0o777) != oct(0o600)  # a normal file mode, not mkstemp's


def test_is_reachable_asks_the_host_it_is_given():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accept = threading.Thread(target=lambda: server.accept()[0].close(), daemon=True)
    accept.start()
    try:
        assert utils.is_reachable(f"http://127.0.0.1:{port}/file.gz", timeout=2)
        accept.join(5)  # a socket still blocked in accept() would keep listening after close()
    finally:
        server.close()
    assert not utils.is_reachable(f"http://127.0.0.1:{port}/file.gz", timeout=1)  # closed now: refused
    assert not utils.is_reachable("http://name.invalid/file.gz", timeout=1)  # no such host
    assert not utils.is_reachable("", timeout=1)


def test_smoke_mode_reads_the_environment(monkeypatch):
    monkeypatch.setenv("MAE_LAB_SMOKE", "1")
    assert utils.smoke_mode()
    monkeypatch.setenv("MAE_LAB_SMOKE", "0")
    assert not utils.smoke_mode()
