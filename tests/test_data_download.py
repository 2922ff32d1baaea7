"""Downloads that fail, fail cleanly: a fake HTTP server on 127.0.0.1 plays every failure.

Each failure — no such host, a refused connection, HTTP 404 and 500, a server that stalls, a body
shorter than its Content-Length, a file with the wrong checksum — must end in ``DownloadError`` (a
``FileNotFoundError``) that names the ways to get the files, with no ``.part`` file and no destination
left behind. The happy path goes through ``mae-lab download fashion_mnist`` and ``load_dataset``.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import struct
import threading
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from mae_lab.cli import main
from mae_lab.data import DownloadError, download, load_dataset
from mae_lab.data.download import download_file

FIXES = ("dataset-fashion-mnist", "mae-lab download fashion_mnist", "MAE_LAB_DATA")


def idx_gz(array: np.ndarray) -> bytes:
    """A gzipped IDX file (the MNIST format) holding a uint8 array."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "i" * array.ndim, *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


class FakeServer:
    """A tiny HTTP server in a thread; ``routes[path] = (status, body, declared_length, stall)``."""

    def __init__(self):
        self.routes: dict[str, tuple[int, bytes, int | None, bool]] = {}
        self.release = threading.Event()  # stalled handlers wait for it
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                status, body, length, stall = server.routes.get(self.path, (404, b"not found", None, False))
                if stall:
                    server.release.wait(30)
                    return
                self.send_response(status)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):  # keep the test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.close()


@pytest.fixture
def fashion_files():
    """Four small valid Fashion-MNIST files (12 images per split) and their MD5 checksums."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    labels = (np.arange(12) % 10).astype(np.uint8)
    files = {}
    for prefix in ("train", "t10k"):
        files[f"{prefix}-images-idx3-ubyte.gz"] = idx_gz(images)
        files[f"{prefix}-labels-idx1-ubyte.gz"] = idx_gz(labels)
    return files, images, labels


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def nothing_left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def assert_clean_failure(error: BaseException, folder: Path, *phrases: str) -> None:
    message = str(error)
    assert isinstance(error, DownloadError) and isinstance(error, FileNotFoundError)
    for phrase in (*phrases, *FIXES):
        assert phrase in message, f"{phrase!r} missing from: {message}"
    assert "Traceback" not in message
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)  # no chained traceback
    assert nothing_left(folder) == [], f"left behind: {nothing_left(folder)}"


def fetch(url: str, folder: Path, checksum: str = "0" * 32, timeout: float = 5.0) -> BaseException:
    from mae_lab.data.sources import FASHION_MNIST_FIXES

    with pytest.raises(DownloadError) as info:
        download_file(url, folder / "file.gz", checksum, how_else=FASHION_MNIST_FIXES, timeout=timeout,
                      progress=False)
    return info.value


# ---------------------------------------------------------------------------------------------
# every failure
# ---------------------------------------------------------------------------------------------
def test_no_such_host(tmp_path):
    error = fetch("http://name.invalid/file.gz", tmp_path / "dl")
    assert_clean_failure(error, tmp_path / "dl", "name.invalid", "not reachable")


def test_name_lookup_fails_after_the_reachability_check(tmp_path, monkeypatch):
    """DNS can fail between the check and the download (a flaky resolver): still a clean error."""
    monkeypatch.setattr(download, "is_reachable", lambda *args, **kwargs: True)

    def no_dns(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    error = fetch("http://mirror.example/file.gz", tmp_path / "dl")
    assert_clean_failure(error, tmp_path / "dl", "could not be resolved")


def test_connection_refused(tmp_path):
    with socket.socket() as sock:  # a port that nothing listens on once the socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = fetch(f"http://127.0.0.1:{port}/file.gz", tmp_path / "dl")
    assert_clean_failure(error, tmp_path / "dl", "not reachable")


def test_connection_refused_after_the_reachability_check(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "is_reachable", lambda *args, **kwargs: True)

    def refuse(*args, **kwargs):
        raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))

    monkeypatch.setattr(download.urllib.request, "urlopen", refuse)
    error = fetch("http://127.0.0.1:9/file.gz", tmp_path / "dl")
    assert_clean_failure(error, tmp_path / "dl", "refused")


@pytest.mark.parametrize("status", [404, 500])
def test_http_errors(server, tmp_path, status):
    server.routes["/file.gz"] = (status, b"oops", None, False)
    error = fetch(server.url + "file.gz", tmp_path / "dl")
    assert_clean_failure(error, tmp_path / "dl", f"HTTP {status}")


def test_a_stalled_server_times_out(server, tmp_path):
    server.routes["/file.gz"] = (200, b"", None, True)
    error = fetch(server.url + "file.gz", tmp_path / "dl", timeout=0.5)
    assert_clean_failure(error, tmp_path / "dl", "time-out")


def test_a_truncated_body_is_not_kept(server, tmp_path):
    body = b"x" * 5000
    server.routes["/file.gz"] = (200, body[:1200], len(body), False)  # says 5000 bytes, sends 1200
    error = fetch(server.url + "file.gz", tmp_path / "dl", checksum=md5(body))
    assert_clean_failure(error, tmp_path / "dl", "1200 of 5000 bytes")


def test_corrupt_content_is_not_kept(server, tmp_path):
    server.routes["/file.gz"] = (200, b"not the real file", None, False)
    error = fetch(server.url + "file.gz", tmp_path / "dl", checksum=md5(b"the real file"))
    assert_clean_failure(error, tmp_path / "dl", "corrupt", md5(b"not the real file"))


def test_a_full_disk_while_downloading_is_reported(server, tmp_path, monkeypatch):
    import errno

    server.routes["/file.gz"] = (200, b"y" * 100, None, False)

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(download, "_md5", no_space)  # the first read-back of the written file fails
    error = fetch(server.url + "file.gz", tmp_path / "dl", checksum=md5(b"y" * 100))
    assert_clean_failure(error, tmp_path / "dl", "no space left on device")


def test_an_interrupted_download_leaves_no_part_file(server, tmp_path, monkeypatch):
    server.routes["/file.gz"] = (200, b"z" * 100, None, False)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(download, "_md5", interrupted)
    with pytest.raises(KeyboardInterrupt):
        download_file(server.url + "file.gz", tmp_path / "dl" / "file.gz", md5(b"z" * 100), progress=False)
    assert nothing_left(tmp_path / "dl") == []


def test_a_wrong_file_already_there_is_replaced_by_a_good_one(server, tmp_path):
    good = b"good bytes"
    server.routes["/file.gz"] = (200, good, None, False)
    target = tmp_path / "file.gz"
    target.write_bytes(b"stale, corrupt copy")
    assert download_file(server.url + "file.gz", target, md5(good), progress=False) == target
    assert target.read_bytes() == good and nothing_left(tmp_path) == ["file.gz"]


# ---------------------------------------------------------------------------------------------
# the happy path: mae-lab download fashion_mnist, and load_dataset(download=True)
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def fashion_mirror(server, fashion_files, monkeypatch, tmp_path):
    files, images, labels = fashion_files
    for name, body in files.items():
        server.routes["/fm/" + name] = (200, body, None, False)
    monkeypatch.setattr(download, "FASHION_MNIST_MIRROR", server.url + "fm/")
    monkeypatch.setattr(download, "FASHION_MNIST_FILES", {name: md5(body) for name, body in files.items()})
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    monkeypatch.setenv("MAE_LAB_SYSTEM_DATA", "0")  # hide any Fashion-MNIST this machine has
    monkeypatch.setenv("MAE_LAB_DATA", str(empty))
    monkeypatch.setenv("HOME", str(empty))
    return files, images, labels


def test_cli_download_then_load(fashion_mirror, tmp_path, capsys):
    files, images, labels = fashion_mirror
    root = tmp_path / "data"
    assert main(["download", "fashion_mnist", "--root", str(root)]) == 0
    assert "fashion_mnist is ready" in capsys.readouterr().out
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == sorted(
        f"fashion-mnist/{name}" for name in files)  # the four files, no .part
    test = load_dataset("fashion_mnist", "test", root=root, download=False)
    assert test.images[:, 0].tolist() == images.tolist() and test.labels.tolist() == labels.tolist()
    assert main(["download", "fashion_mnist", "--root", str(root)]) == 0  # again: files are kept, not refetched


def test_load_dataset_downloads_when_asked(fashion_mirror, tmp_path):
    _, images, _ = fashion_mirror
    root = tmp_path / "data"
    with pytest.raises(FileNotFoundError, match="mae-lab download fashion_mnist"):
        load_dataset("fashion_mnist", "train", root=root, download=False)
    train = load_dataset("fashion_mnist", "train", root=root, download=True)
    assert len(train) == 12 and train.images[:, 0].tolist() == images.tolist()


def test_cli_download_failure_is_one_error_line(fashion_mirror, server, tmp_path, capsys):
    server.routes.clear()  # every file: 404
    assert main(["download", "fashion_mnist", "--root", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "HTTP 404" in err and "dataset-fashion-mnist" in err
    assert "Traceback" not in err
    assert nothing_left(tmp_path / "data") == []
