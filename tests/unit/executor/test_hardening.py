"""hardening.py: what the service leaves of its environment and its stdin for other processes.

Each check runs in a fresh interpreter: the scrub rewrites that process's environment block."""

from __future__ import annotations

import os
import subprocess
import sys

SCRUB = """
import ctypes, os
from azr_executor.hardening import scrub_environment
libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p
print(scrub_environment())
block = open('/proc/self/environ', 'rb').read()
print(block.strip(b'\\0') == b'', os.environ.get('POD_VARIABLE'), libc.getenv(b'POD_VARIABLE'))
print('AZR_EXECUTOR_TOKENS' in os.environ, libc.getenv(b'AZR_EXECUTOR_TOKENS'))
"""


def test_the_environment_block_keeps_nothing_and_the_other_variables_live_on():
    # /proc/<pid>/environ shows the block as the process started, whatever unsetenv did; some
    # kernels (gVisor's runsc 2022-12) show it to other uids even when not dumpable.
    env = {"PATH": os.environ["PATH"], "POD_VARIABLE": "pod-value-1",
           "AZR_EXECUTOR_TOKENS": "tok-secret-1,tok-secret-2"}  # fmt: skip
    out = subprocess.run([sys.executable, "-c", SCRUB], env=env, capture_output=True, text=True,
                         check=True).stdout.splitlines()  # fmt: skip
    assert out == [
        "['AZR_EXECUTOR_TOKENS']",
        "True pod-value-1 b'pod-value-1'",  # gone from the block, kept in copies
        "False None",  # the tokens: gone everywhere
    ]


def test_stdin_is_this_systems_dev_null():
    code = (
        "import os\nfrom azr_executor.hardening import detach_stdin\ndetach_stdin()\n"
        "print(os.fstat(0).st_rdev == os.stat('/dev/null').st_rdev, os.read(0, 1))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], input="secret input", capture_output=True,
                       text=True, check=True)  # fmt: skip
    assert r.stdout == "True b''\n"
