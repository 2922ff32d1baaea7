"""Finding dataset files on this machine, and fetching them when asked to.

Files are looked for, in order, in ``root=``, ``$MAE_LAB_DATA``, the repository's ``data/`` folder,
``~/.cache/mae_lab`` and the system's dataset folders (Debian's ``dataset-fashion-mnist`` package puts
Fashion-MNIST under ``/usr/share/datasets/fashion-mnist``; ``MAE_LAB_SYSTEM_DATA=0`` skips them).

A download goes to a temporary name next to its destination, is checked against its known checksum
and only then renamed into place, so a broken connection or a corrupt file never leaves something
that the next run would read. Every failure — no network, a refused connection, an HTTP error, a
time-out, a truncated or corrupt file — ends in a :class:`DownloadError` that says what happened and
the ways to get the files, never a library traceback.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from ..paths import data_dir
from ..utils import is_reachable

__all__ = [
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_MIRROR",
    "SYSTEM_DATA_DIRS",
    "DownloadError",
    "candidate_dirs",
    "download_file",
    "download_root",
    "find_file",
    "search_system_default",
]

#: Folders searched after ``$MAE_LAB_DATA`` and ``data/`` (Debian's package path).
SYSTEM_DATA_DIRS: tuple[str, ...] = ("/usr/share/datasets/fashion-mnist",)

FASHION_MNIST_MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
#: The four Fashion-MNIST files and the MD5 checksums their authors publish for them.
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}


class DownloadError(FileNotFoundError):
    """A dataset could not be fetched; the message says why and how else to get the files."""


def search_system_default() -> bool:
    """Whether the system's dataset folders are searched (``MAE_LAB_SYSTEM_DATA=0`` turns it off)."""
    return os.environ.get("MAE_LAB_SYSTEM_DATA", "1").lower() not in ("0", "false", "no", "off")


def download_root(root: str | os.PathLike | None = None) -> Path:
    """Where downloads go: ``root``, else ``$MAE_LAB_DATA``, else the repository's ``data/`` folder."""
    if root is not None:
        return Path(root)
    env = os.environ.get("MAE_LAB_DATA")
    return Path(env) if env else data_dir()


def candidate_dirs(root: str | os.PathLike | None, search_system: bool, subdirs: Sequence[str]) -> list[Path]:
    """Folders to search: ``root``, ``$MAE_LAB_DATA``, repo ``data/``, the cache, then the system's."""
    bases: list[Path] = []
    if root is not None:
        bases.append(Path(root))
    if os.environ.get("MAE_LAB_DATA"):
        bases.append(Path(os.environ["MAE_LAB_DATA"]))
    bases += [data_dir(), Path.home() / ".cache" / "mae_lab"]
    found: list[Path] = []
    for base in bases:
        found.extend([base] + [base / sub for sub in subdirs])
    if search_system and search_system_default():
        found.extend(Path(p) for p in SYSTEM_DATA_DIRS)
    return found


def find_file(folders: Sequence[Path], stem: str) -> Path | None:
    """The first ``<folder>/<stem>`` or ``<folder>/<stem>.gz`` that exists."""
    for folder in folders:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(url: str, destination: str | os.PathLike, md5: str, *, how_else: str = "",
                  timeout: float = 30.0, progress: bool = True) -> Path:
    """Fetch ``url`` to ``destination`` (checked against ``md5``); returns the destination.

    The bytes go to ``destination.part`` first; only a complete file with the right checksum is
    renamed to ``destination``. ``how_else`` is appended to every error message (other ways to get
    the file). Raises :class:`DownloadError` on any failure, leaving no partial file behind.
    """
    destination = Path(destination)
    if destination.is_file() and _md5(destination) == md5:
        return destination
    hint = f" {how_else}" if how_else else ""
    if not is_reachable(url, timeout=min(timeout, 5.0)):
        raise DownloadError(f"cannot download {destination.name}: {url} is not reachable (no network, or the "
                            f"host is down).{hint}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    try:
        _fetch(url, partial, timeout, progress)
        actual = _md5(partial)
        if actual != md5:
            raise DownloadError(f"{destination.name} from {url} is corrupt (MD5 {actual}, expected {md5}); "
                                f"nothing was kept. Try again later or from another network.{hint}")
        os.replace(partial, destination)
    except DownloadError:
        partial.unlink(missing_ok=True)
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        partial.unlink(missing_ok=True)  # HTTP errors, resets, time-outs, short reads, full disks
        raise DownloadError(f"downloading {url} failed: {_describe(error, timeout)}; nothing was kept.{hint}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return destination


def _describe(error: BaseException, timeout: float) -> str:
    """One readable phrase for what went wrong in a download."""
    if isinstance(error, urllib.error.HTTPError):
        return f"the server answered HTTP {error.code} {error.reason}"
    reason = getattr(error, "reason", None) or error  # URLError wraps the socket error
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"no data for {timeout:g} s (time-out)"
    if isinstance(reason, socket.gaierror):
        return f"the host name could not be resolved ({reason})"
    if isinstance(reason, ConnectionRefusedError):
        return "the connection was refused"
    if getattr(reason, "errno", None) == errno.ENOSPC:
        return "no space left on device"
    if isinstance(reason, http.client.HTTPException):
        return f"the connection broke ({type(reason).__name__}: {reason})"
    return f"{type(reason).__name__}: {reason}"


def _fetch(url: str, target: Path, timeout: float, progress: bool) -> None:
    """Stream ``url`` into ``target`` with a progress bar; a short read raises ``ValueError``."""
    from tqdm.auto import tqdm

    with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as handle:  # noqa: S310
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=target.name.removesuffix(".part"),
                  disable=not progress or None) as bar:
            received = 0
            for chunk in iter(lambda: response.read(1 << 16), b""):
                handle.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise ValueError(f"the connection closed after {received} of {total} bytes")
