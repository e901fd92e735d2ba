"""The zygote's wire protocol, written once: the server imports it, the zygote imports it.

Server -> zygote (the zygote trusts the server): a 4-byte little-endian length, then `marshal`
of a tuple: `("run", job_id, code, stdin, files, limits, flags, layout_salt)` or
`("stats", 0)`. `limits` is `LIMITS_ORDER`, in that order.

Zygote -> server (the server trusts nothing that ran next to submitted code): every frame is
`RESULT_HEAD` (magic, header length, stdout length, stderr length), a small JSON header
(`MAX_HEADER_BYTES` at most), then the raw stdout and stderr bytes. The server never
unmarshals this direction, and checks each length against the cap before it reads a byte: the
zygote enforces the output cap on the very bytes it puts into a frame, so a frame is at most
`max_frame_bytes(cap)` long whatever the program printed (JSON escaping cannot inflate it).

Child -> zygote: two pipes. The *setup* pipe carries `CONFINED` (one byte) when the child has
finished confining itself, or `FAULT` and a message when it could not; the child closes it
before the first submitted byte is read, and the zygote reads nothing from it after `CONFINED`,
so no program can write on it. The *report* pipe carries the program's own uncaught exception
as `nonce + b"E\\0" + type \\0 message \\0 traceback`; the nonce is fresh per run, so bytes
sprayed at descriptors are never taken for a report (a program that digs the nonce out of its
own memory can only report an exception of its own: that fails the program, nothing else).
"""

from __future__ import annotations

import json
import marshal
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:  # the zygote does not import typing
    from typing import Any

__all__ = [
    "AFTER_RUN_BUDGET_S",
    "CONFINED",
    "FAULT",
    "FLAG_COMPILED",
    "JOB_LENGTH",
    "LIMITS_ORDER",
    "MARKER_MAX_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_STREAM_BYTES",
    "NONCE_BYTES",
    "RESULT_HEAD",
    "STUCK_GRACE_S",
    "ProtocolError",
    "decode_report",
    "encode_frame",
    "encode_job",
    "max_frame_bytes",
    "parse_head",
    "parse_header",
]

JOB_LENGTH = struct.Struct("<I")
RESULT_HEAD = struct.Struct("<4sIII")  # magic, header bytes, stdout bytes, stderr bytes
_MAGIC = b"AZR2"
MAX_HEADER_BYTES = 256 << 10  # exception message (2,000 chars) and traceback (8,000), escaped
MAX_STREAM_BYTES = 64 << 20  # no output cap may exceed this (settings refuse more)
MARKER_MAX_BYTES = 64  # the "...[N bytes truncated]..." marker between head and tail
NONCE_BYTES = 8

# After a run, the zygote's own work (the first process's death, the sweep of what the run left,
# the removal of its directory) never takes longer than this: past it the zygote sends the run's
# result with `retire` and exits. What a run leaves (a deep tree, many files, processes that
# hop) only ever costs its zygote, never its status. The server calls a zygote stuck only
# `STUCK_GRACE_S` past a run's wall limit, which this budget fits in with a margin.
AFTER_RUN_BUDGET_S = 2.5
STUCK_GRACE_S = AFTER_RUN_BUDGET_S + 2.5

# `code` is the server's own program as a marshalled code object of the zygote's own bytecode
# version (`hello["magic"]`). Submitted code never takes this path: the API only sends source.
FLAG_COMPILED = 1

LIMITS_ORDER = ("wall_s", "cpu_s", "memory_mb", "output_bytes", "processes", "open_files",
                "file_size_mb")  # fmt: skip

CONFINED = b"\x01"  # setup pipe: the child is confined; the pipe closes right after
FAULT = b"\x02"  # setup pipe: confinement failed, a message follows (a sandbox fault)


class ProtocolError(ValueError):
    """A zygote frame that breaks the protocol (the zygote is then replaced)."""


def encode_job(msg: tuple[Any, ...]) -> bytes:
    """One server -> zygote frame."""
    payload = marshal.dumps(msg)
    return JOB_LENGTH.pack(len(payload)) + payload


def _no_default(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# One compact JSON encoder for every frame (json.dumps builds a new encoder per call).
_encode_json = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
    None, _no_default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True
)


def encode_frame(header: dict[str, Any], stdout: bytes = b"", stderr: bytes = b"") -> bytes:
    """One zygote -> server frame: head, JSON header, raw stdout, raw stderr."""
    head = "".join(_encode_json(header, 0)).encode()
    if len(head) > MAX_HEADER_BYTES:  # cannot happen with the zygote's own caps; never send it
        raise ProtocolError(f"header of {len(head)} bytes")
    return RESULT_HEAD.pack(_MAGIC, len(head), len(stdout), len(stderr)) + head + stdout + stderr


def max_frame_bytes(output_cap: int) -> int:
    """The largest frame a run with this per-stream cap can produce."""
    return RESULT_HEAD.size + MAX_HEADER_BYTES + 2 * (output_cap + MARKER_MAX_BYTES)


def parse_head(head: bytes, output_cap: int | None) -> tuple[int, int, int]:
    """Validate a frame head; `output_cap=None` for frames of no run (hello, stats)."""
    magic, n_header, n_out, n_err = RESULT_HEAD.unpack(head)
    if magic != _MAGIC:
        raise ProtocolError(f"bad frame magic {magic!r}")
    stream_cap = 0 if output_cap is None else output_cap + MARKER_MAX_BYTES
    if n_header > MAX_HEADER_BYTES or n_out > stream_cap or n_err > stream_cap:
        raise ProtocolError(f"frame over its caps ({n_header}, {n_out}, {n_err}; cap {stream_cap})")
    return n_header, n_out, n_err


def parse_header(data: bytes) -> dict[str, Any]:
    """The JSON header of a frame, as a dict (never anything else)."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"bad frame header: {exc}") from None
    if not isinstance(value, dict):
        raise ProtocolError("frame header is not an object")
    return value


def decode_report(report: bytes, nonce: bytes) -> dict[str, str] | None:
    """The program's exception report, or None when it is absent or not this run's."""
    at = report.rfind(nonce + b"E\0") if len(nonce) == NONCE_BYTES else -1
    if at < 0:
        return None
    parts = report[at + NONCE_BYTES + 2 :].decode("utf-8", "replace").split("\0")
    parts += [""] * (3 - len(parts))
    return {"type": parts[0][:200], "message": parts[1][:2000], "traceback": parts[2][-8000:]}
