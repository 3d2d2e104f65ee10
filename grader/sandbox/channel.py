"""The result channel: how observations leave the sandbox. JSON + ``.npz``, never pickle.

Child -> supervisor: frames on a pipe whose file descriptor sits at a random high
number (above the sandbox's ``RLIMIT_NOFILE``, so outside 3..63). Each frame is::

    b"GRD1" | token (16 bytes) | u32 JSON length | u32 blob length | JSON | blob

The token is drawn per sandbox; the supervisor drops the whole stream (the task
scores 0, "result channel tampered with") at the first frame that is not well-formed
or carries another token. A blob is an ``.npz`` archive holding the arrays of one
observation; it is only ever read with ``allow_pickle=False`` (in the grader's
process), so no bytes from the sandbox are unpickled anywhere.

Supervisor <-> grader: length-prefixed frames on a socket pair (:func:`send_msg`,
:func:`recv_msg`): a JSON header, then its blobs.
"""

from __future__ import annotations

import io
import json
import os
import socket
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np

MAGIC = b"GRD1"
TOKEN_LEN = 16
HEADER = struct.Struct("!4s16sII")
MAX_JSON = 16 * 1024 * 1024
MAX_BLOB = 64 * 1024 * 1024
MAX_STR = 1024 * 1024
MAX_DEPTH = 32


class ChannelError(Exception):
    """The byte stream from the sandbox is not what the grader's code writes."""


class NotObservable(TypeError):
    """A value that cannot be recorded (say what it was, for the feedback)."""


# --------------------------------------------------------------------------- values
def encode(value: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """Turn an observable value into (JSON-able structure, arrays by name)."""
    arrays: dict[str, np.ndarray] = {}

    def enc(v: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise NotObservable("the value is nested too deeply")
        if v is None or isinstance(v, (bool, str)):
            if isinstance(v, str) and len(v) > MAX_STR:
                return v[:MAX_STR]
            return v
        if isinstance(v, int):
            return int(v)
        if isinstance(v, float):
            return float(v)
        if isinstance(v, bytes):
            return v[:MAX_STR].decode("utf-8", "replace")
        if isinstance(v, np.generic):
            if isinstance(v, (np.bytes_,)):
                return bytes(v)[:MAX_STR].decode("utf-8", "replace")
            if isinstance(v, np.complexfloating):
                return enc(np.asarray(v), depth)
            return v.item()
        if isinstance(v, np.ndarray):
            if v.dtype.kind in "biufc":
                name = f"a{len(arrays)}"
                arrays[name] = np.array(v, order="C", copy=True)  # keeps 0-d arrays 0-d
                return {"$nd": name}
            if v.dtype.kind in "SUO":
                try:
                    flat = [enc(x, depth + 1) for x in v.reshape(-1).tolist()]
                except NotObservable:
                    raise
                if not all(isinstance(x, str) or x is None for x in flat):
                    raise NotObservable(f"an array of dtype {v.dtype} holding non-strings")
                return {"$sa": flat, "shape": list(v.shape)}
            raise NotObservable(f"an array of dtype {v.dtype}")
        if hasattr(v, "numpy") and callable(v.numpy) and not isinstance(v, type):
            out = v.numpy()
            if not isinstance(out, (np.ndarray, np.generic, bytes, int, float, bool)):
                raise NotObservable(f"a {type(v).__name__} whose numpy() gave a "
                                    f"{type(out).__name__}")
            return enc(out, depth + 1)
        if isinstance(v, (list, tuple)):
            return [enc(x, depth + 1) for x in v]
        if isinstance(v, dict):
            pairs = []
            for k, x in v.items():
                if isinstance(k, (np.generic,)):
                    k = k.item()
                if not isinstance(k, (str, int, float, bool)) and k is not None:
                    raise NotObservable(f"a dict with a key of type {type(k).__name__}")
                pairs.append([k, enc(x, depth + 1)])
            return {"$d": pairs}
        raise NotObservable(f"a {type(v).__module__}.{type(v).__qualname__}"
                            if type(v).__module__ != "builtins" else f"a {type(v).__name__}")

    return enc(value, 0), arrays


def arrays_to_npz(arrays: dict[str, np.ndarray]) -> bytes:
    if not arrays:
        return b""
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def npz_to_arrays(blob: bytes) -> dict[str, np.ndarray]:
    if not blob:
        return {}
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def decode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Inverse of :func:`encode` (in the grader's process)."""
    if isinstance(obj, list):
        return [decode(x, arrays) for x in obj]
    if isinstance(obj, dict):
        if "$nd" in obj:
            name = obj["$nd"]
            if name not in arrays:
                raise ChannelError(f"array {name!r} missing from the observation")
            return arrays[name]
        if "$sa" in obj:
            return np.array(obj["$sa"], dtype=object if None in obj["$sa"] else str).reshape(
                obj.get("shape", [-1]))
        if "$d" in obj:
            return {k: decode(v, arrays) for k, v in obj["$d"]}
        raise ChannelError("unexpected mapping in an observation")
    return obj


# --------------------------------------------------------------------------- child side
class Writer:
    """Writes frames to the result channel (in the sandbox)."""

    def __init__(self, fd: int, token: bytes) -> None:
        self.fd = fd
        self.token = token

    def send(self, msg: dict[str, Any], blob: bytes = b"") -> None:
        data = json.dumps(msg, separators=(",", ":")).encode()
        if len(data) > MAX_JSON:
            raise NotObservable(f"the observation is too large ({len(data)} bytes of JSON)")
        if len(blob) > MAX_BLOB:
            raise NotObservable(f"the observation is too large ({len(blob)} bytes of arrays)")
        frame = HEADER.pack(MAGIC, self.token, len(data), len(blob)) + data + blob
        view = memoryview(frame)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]


# --------------------------------------------------------------------------- supervisor side
class Reader:
    """Incremental parser of the frames coming out of the sandbox."""

    def __init__(self, token: bytes) -> None:
        self.token = token
        self.buf = bytearray()
        self.broken: str | None = None

    def feed(self, data: bytes) -> Iterator[tuple[dict[str, Any], bytes]]:
        if self.broken:
            return
        self.buf += data
        while len(self.buf) >= HEADER.size:
            magic, token, jlen, blen = HEADER.unpack_from(self.buf)
            if magic != MAGIC or token != self.token or jlen > MAX_JSON or blen > MAX_BLOB:
                self.broken = "a frame with a bad header"
                self.buf.clear()
                return
            end = HEADER.size + jlen + blen
            if len(self.buf) < end:
                return
            try:
                msg = json.loads(bytes(self.buf[HEADER.size:HEADER.size + jlen]))
            except ValueError:
                self.broken = "a frame whose JSON does not parse"
                self.buf.clear()
                return
            if not isinstance(msg, dict) or not isinstance(msg.get("t"), str):
                self.broken = "a frame that is not a message"
                self.buf.clear()
                return
            blob = bytes(self.buf[HEADER.size + jlen:end])
            del self.buf[:end]
            yield msg, blob


# --------------------------------------------------------------------------- grader <-> supervisor
_LEN = struct.Struct("!Q")


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        c = sock.recv(min(n, 1 << 20))
        if not c:
            raise EOFError("connection closed")
        chunks.append(c)
        n -= len(c)
    return b"".join(chunks)


def send_msg(sock: socket.socket, msg: dict[str, Any], blobs: list[bytes] = ()) -> None:  # type: ignore[assignment]
    blobs = list(blobs)
    msg = dict(msg, nblobs=len(blobs))
    data = json.dumps(msg, separators=(",", ":")).encode()
    parts = [_LEN.pack(len(data)), data]
    for b in blobs:
        parts += [_LEN.pack(len(b)), b]
    sock.sendall(b"".join(parts))


def recv_msg(sock: socket.socket) -> tuple[dict[str, Any], list[bytes]]:
    (n,) = _LEN.unpack(_recv_exact(sock, _LEN.size))
    msg = json.loads(_recv_exact(sock, n))
    blobs = []
    for _ in range(int(msg.get("nblobs", 0))):
        (m,) = _LEN.unpack(_recv_exact(sock, _LEN.size))
        blobs.append(_recv_exact(sock, m))
    return msg, blobs
