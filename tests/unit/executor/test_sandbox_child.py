"""Pure parts of the zygote module: the seccomp program, output capture, status decisions."""

from __future__ import annotations

import signal

from azr_executor.sandbox import child


def test_seccomp_program_denies_sockets_and_checks_kill_targets():
    prog = child.seccomp_program(own_pid=4242, uid_dropped=False)
    consts = [k for (_code, _jt, _jf, k) in prog]
    for nr in (
        41,
        53,
        101,
        165,
        272,
        308,
        321,
    ):  # socket, socketpair, ptrace, mount, unshare, setns, bpf
        assert nr in consts
    assert 4242 in consts and (-4242) & 0xFFFFFFFF in consts
    assert all(0 <= jt <= 255 and 0 <= jf <= 255 for (_c, jt, jf, _k) in prog)
    # the last instruction kills the process on a foreign architecture
    assert prog[-1] == (0x06, 0, 0, 0x80000000)


def test_seccomp_template_patches_the_pid():
    raw, pos, neg = child._template(True)
    assert pos and neg
    assert len(raw) % 8 == 0


def test_capture_keeps_head_and_tail_when_over_cap():
    cap = child._Capture(10)
    for chunk in (b"0123456789", b"abcdefghij", b"KLMNOPQRST"):
        cap.feed(chunk)
    text, truncated = cap.text()
    assert truncated
    assert text.startswith("01234")
    assert text.endswith("PQRST")
    assert "[20 bytes truncated]" in text


def test_capture_under_cap_is_verbatim():
    cap = child._Capture(100)
    cap.feed("héllo\n".encode())
    assert cap.text() == ("héllo\n", False)


def _raw(**kw):
    base = {
        "reason": None,
        "signal": None,
        "exit_code": 0,
        "cpu_ms": 5.0,
        "exception": None,
        "stderr": "",
    }
    base.update(kw)
    return base


def test_classify_statuses():
    cases = [
        (_raw(), b"", "ok"),
        (_raw(exit_code=1), b"E\0ValueError\0bad\0tb", "runtime_error"),
        (_raw(exit_code=1), b"E\0MemoryError\0\0", "memory_limit"),
        (_raw(reason="wall", signal=9, exit_code=None), b"", "timeout"),
        (_raw(signal=signal.SIGXCPU, exit_code=None), b"", "timeout"),
        (_raw(signal=9, exit_code=None, cpu_ms=2000.0), b"", "timeout"),
        (_raw(signal=11, exit_code=None), b"", "killed"),
        (_raw(reason="output", signal=9), b"", "output_limit"),
        (_raw(exit_code=70), b"S\0OSError: nope", "sandbox_error"),
    ]
    for raw, report, status in cases:
        child._classify(raw, report, cpu_s=2, over_cap=False)
        assert raw["status"] == status, (raw, report)
