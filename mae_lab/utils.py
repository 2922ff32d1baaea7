"""Small helpers every layer of mae_lab shares (the bottom layer: it imports nothing from mae_lab).

* devices: :func:`default_device`, :func:`module_device`, :func:`as_device` (check one a user named);
* memory: :func:`check_memory` (refuse an allocation larger than the machine);
* the environment: :func:`smoke_mode`, :func:`in_colab`;
* randomness: :func:`mix_seed`, :func:`generator` and the named random streams :class:`Stream`;
* messages: :func:`suggest` ("did you mean ...?"), :func:`whole_number` (check a count a user passed);
* files: :func:`atomic_write` (write to a temporary name, fsync, rename);
* the network: :func:`is_reachable`, the one connectivity check, asked of the host about to be used.
"""

from __future__ import annotations

import difflib
import enum
import operator
import os
import socket
import sys
import tempfile
import threading
import urllib.parse
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "Stream",
    "as_device",
    "atomic_write",
    "check_memory",
    "default_device",
    "deprecated_alias",
    "generator",
    "in_colab",
    "is_reachable",
    "mix_seed",
    "module_device",
    "smoke_mode",
    "suggest",
    "whole_number",
]


# ---------------------------------------------------------------------------------------------
# devices and the environment
# ---------------------------------------------------------------------------------------------
def default_device() -> torch.device:
    """``cuda`` if available, else ``mps``, else ``cpu``."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter (``cpu`` for a module without parameters)."""
    try:
        return next(module.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def as_device(device: object) -> torch.device:
    """``device`` (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a ``torch.device``) checked: a
    ``ValueError`` names a device that is not a device, or one this machine does not have."""
    if isinstance(device, str) and device == "auto":
        return default_device()
    try:
        resolved = device if isinstance(device, torch.device) else torch.device(device)  # type: ignore[arg-type]
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device {device!r} is not a device; use 'auto', 'cpu', 'cuda', 'cuda:0' or 'mps'") from None
    available = {"cpu": True, "meta": True, "cuda": torch.cuda.is_available(),
                 "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())}
    if not available.get(resolved.type, True):
        raise ValueError(f"device {device!r} is not available on this machine (no {resolved.type.upper()}); use "
                         f"'auto' (it picks {default_device().type} here) or 'cpu'")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} CUDA "
                         "device(s), numbered from 0")
    return resolved


def check_memory(num_bytes: int, what: str, fix: str) -> None:
    """Raise a ``ValueError`` (saying ``what`` and ``fix``) when ``num_bytes`` exceed this machine's memory,
    before anything is allocated. Does nothing where the memory size is unknown."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return
    if num_bytes > total > 0:
        raise ValueError(f"{what} would need {num_bytes / 2**30:,.1f} GiB, more than this machine's "
                         f"{total / 2**30:,.1f} GiB; {fix}")


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def smoke_mode() -> bool:
    """True when ``MAE_LAB_SMOKE=1``: notebooks and demos shrink data and epochs."""
    return os.environ.get("MAE_LAB_SMOKE", "0").lower() not in ("", "0", "false", "no")


# ---------------------------------------------------------------------------------------------
# randomness: every draw comes from a generator seeded by (seed, ..., stream)
# ---------------------------------------------------------------------------------------------
class Stream(enum.IntEnum):
    """Names of the independent random streams, mixed into every seed so that they never collide."""

    DATA_ORDER = 1_001  # the order of the training images in an epoch
    AUGMENT = 2_002  # random resized crops and flips of a batch
    MASK = 3_003  # the masks of a training step
    LINEAR_INIT = 4_004  # the linear probe's initial weights
    LINEAR_ORDER = 4_005  # the linear probe's batch order
    LABEL_SUBSET = 5_005  # which labelled images a few-label probe keeps
    SUBSET = 7_001  # a random subset of a dataset (``limit=``)
    SAMPLE = 9_001  # the images of ``sample_images``


def mix_seed(*parts: int) -> int:
    """One well-mixed 63-bit seed from several integers (e.g. ``seed, epoch, batch, Stream.AUGMENT``).

    Uses numpy's ``SeedSequence`` so nearby inputs give unrelated streams, on every platform.
    """
    state = np.random.SeedSequence([int(p) % (2**63) for p in parts]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) % (2**63 - 1)


def generator(*parts: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from ``mix_seed(*parts)``; torch's global RNG is never used."""
    return torch.Generator().manual_seed(mix_seed(*parts))


# ---------------------------------------------------------------------------------------------
# messages
# ---------------------------------------------------------------------------------------------
def suggest(name: object, choices: Iterable[str], n: int = 3) -> str:
    """``" Did you mean 'a' or 'b'?"`` for the choices close to ``name``, or ``""`` when none is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=n, cutoff=0.4)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def whole_number(value: object, name: str, minimum: int | None = None, maximum: int | None = None,
                 fix: str = "") -> int:
    """``value`` as an ``int``, or a ``ValueError`` that names ``name``, the value and ``fix``.

    Accepts ints (numpy's too) and floats with no fractional part (``8.0``); refuses bools, strings,
    NaN, infinities, tensors with more than one value and numbers outside ``[minimum, maximum]``.
    """
    hint = f"; {fix}" if fix else ""
    number: int | None = None
    if not isinstance(value, (bool, str, bytes)):
        if isinstance(value, float) or type(value).__name__.startswith("float"):
            as_float = float(value)  # type: ignore[arg-type]
            if as_float.is_integer():
                number = int(as_float)
        else:
            try:
                number = operator.index(value)  # type: ignore[arg-type]
            except TypeError:
                number = None
    if number is None:
        raise ValueError(f"{name} must be a whole number, got {value!r}{hint}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}{hint}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be at most {maximum:,}, got {value!r}{hint}")
    return number


def deprecated_alias(old: str, new: str, where: str = "", stacklevel: int = 3) -> None:
    """Warn once per call site that ``old`` is now called ``new`` (kept working for one release)."""
    place = f" in {where}" if where else ""
    warnings.warn(f"{old!r}{place} is deprecated; use {new!r} (the old name goes in the next release)",
                  DeprecationWarning, stacklevel=stacklevel)


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------
def atomic_write(path: str | os.PathLike, data: bytes | str | Callable[[Path], None]) -> Path:
    """Write ``path`` so that readers see the old file or the new one, never half of one.

    ``data`` is bytes, text, or a function that writes a given temporary path. The temporary file
    lives in the same folder, is flushed to disk (``fsync``) and renamed onto ``path`` in one step;
    on any error (a full disk included) it is removed and the previous ``path`` is left intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        if callable(data):
            os.close(fd)
            data(tmp)
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data.encode() if isinstance(data, str) else data)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644 & ~_current_umask())  # mkstemp makes 0600 files; use the usual mode
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable (not possible on every platform; then nothing is done)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# the network
# ---------------------------------------------------------------------------------------------
def is_reachable(url_or_host: str, timeout: float = 3.0) -> bool:
    """True when a TCP connection to the host of ``url_or_host`` opens within ``timeout`` s (DNS included).

    Ask it of the host you are about to download from: another host being up says nothing about it.
    The check runs in a thread, so a hanging name lookup cannot stall the caller beyond ``timeout``.
    """
    parsed = urllib.parse.urlsplit(url_or_host if "://" in url_or_host else f"https://{url_or_host}")
    host = parsed.hostname or ""
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    if not host:
        return False
    result: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])
