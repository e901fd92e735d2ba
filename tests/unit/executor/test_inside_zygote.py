"""Pure parts of the inside package: the seccomp program, output capture, status decisions."""

from __future__ import annotations

import signal

import pytest
from azr_executor.inside import protocol, seccomp, zygote


def test_seccomp_program_denies_sockets_and_checks_kill_targets():
    prog = seccomp.seccomp_program(own_pid=4242, uid_dropped=False)
    consts = [k for (_code, _jt, _jf, k) in prog]
    # socket, socketpair, ptrace, mount, unshare, setns, bpf
    for nr in (41, 53, 101, 165, 272, 308, 321):
        assert nr in consts
    assert 4242 in consts and (-4242) & 0xFFFFFFFF in consts
    assert all(0 <= jt <= 255 and 0 <= jf <= 255 for (_c, jt, jf, _k) in prog)
    # the last instruction kills the process on a foreign architecture
    assert prog[-1] == (0x06, 0, 0, 0x80000000)


def test_seccomp_program_denies_ipc_and_cpu_placement():
    consts = {k for (_code, _jt, _jf, k) in seccomp.seccomp_program(1, uid_dropped=True)}
    # shmat, shmctl, msgsnd, semop, mq_timedsend; sched_setaffinity, setpriority, ioprio_set
    assert {30, 31, 69, 65, 242, 203, 141, 251, 314, 144} <= consts


def test_seccomp_template_patches_the_pid():
    raw, pos, neg = seccomp._template(True)
    assert pos and neg
    assert len(raw) % 8 == 0


def test_seccomp_refuses_a_foreign_architecture(monkeypatch):
    class Uname:
        machine = "aarch64"

    monkeypatch.setattr(seccomp.os, "uname", lambda: Uname)
    with pytest.raises(OSError, match="AZR_EXECUTOR_SECCOMP=false"):
        seccomp.check_architecture(True)
    seccomp.check_architecture(False)


def test_capture_keeps_head_and_tail_when_over_cap():
    cap = zygote.Capture(10)
    for chunk in (b"0123456789", b"abcdefghij", b"KLMNOPQRST"):
        cap.feed(chunk)
    data, truncated = cap.output()
    assert truncated
    assert data.startswith(b"01234")
    assert data.endswith(b"PQRST")
    assert b"[20 bytes truncated]" in data


def test_capture_output_never_exceeds_the_cap_and_marker():
    cap = zygote.Capture(1000)
    for _ in range(200):
        cap.feed(b"\x01" * 4096)
    data, truncated = cap.output()
    assert truncated and len(data) <= 1000 + protocol.MARKER_MAX_BYTES


def test_capture_under_cap_is_verbatim():
    cap = zygote.Capture(100)
    cap.feed("héllo\n".encode())
    assert cap.output() == ("héllo\n".encode(), False)


def _raw(**kw):
    base = {"reason": None, "signal": None, "exit_code": 0, "cpu_ms": 5.0, "exception": None,
            "over_cap": False, "confined": True}  # fmt: skip
    base.update(kw)
    return base


def _exc(kind):
    return {"type": kind, "message": "", "traceback": ""}


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (_raw(), "ok"),
        (_raw(exit_code=1, exception=_exc("ValueError")), "runtime_error"),
        (_raw(exit_code=1, exception=_exc("MemoryError")), "memory_limit"),
        (_raw(exit_code=0, exception=_exc("MemoryError")), "ok"),
        (_raw(reason="wall", signal=9, exit_code=None), "timeout"),
        (_raw(signal=signal.SIGXCPU, exit_code=None), "timeout"),
        (_raw(signal=9, exit_code=None, cpu_ms=2000.0), "timeout"),
        (_raw(signal=11, exit_code=None), "killed"),
        (_raw(signal=9, exit_code=None, oom_killed=True), "memory_limit"),
        (_raw(reason="output", signal=9), "output_limit"),
        (_raw(over_cap=True), "output_limit"),
        (_raw(exit_code=70), "runtime_error"),  # after CONFINED, 70 means nothing special
        (_raw(exit_code=70, confined=False, fault="OSError: nope"), "sandbox_error"),
        (_raw(exit_code=None, signal=9, confined=False), "sandbox_error"),
    ],
)
def test_classify_statuses(raw, status):
    zygote.classify(raw, cpu_s=2)
    assert raw["status"] == status, raw


def test_exception_report_needs_this_runs_nonce():
    nonce = b"n" * protocol.NONCE_BYTES
    assert protocol.decode_report(b"E\0MemoryError\0\0", nonce) is None
    assert (
        protocol.decode_report(b"x" * protocol.NONCE_BYTES + b"E\0MemoryError\0\0", nonce) is None
    )
    got = protocol.decode_report(b"junk" + nonce + b"E\0ValueError\0bad\0tb", nonce)
    assert got == {"type": "ValueError", "message": "bad", "traceback": "tb"}


def test_frames_round_trip_and_refuse_oversized_streams():
    frame = protocol.encode_frame({"status": "ok"}, b"out", b"err")
    head = frame[: protocol.RESULT_HEAD.size]
    assert protocol.parse_head(head, 3) == (len(frame) - protocol.RESULT_HEAD.size - 6, 3, 3)
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_head(head, None)  # a frame of no run carries no streams
    big = protocol.encode_frame({}, b"x" * 2000)
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_head(big[: protocol.RESULT_HEAD.size], 1000)
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_header(b"[" * 100000 + b"]" * 100000)
