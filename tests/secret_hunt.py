"""The program a run uses to hunt for the service's secrets (issue 21), shared by the security
suite (natively) and the e2e test of the Kubernetes Deployment's container."""

from __future__ import annotations

_PROGRAM = """
import os, time
needles = [n.encode() for n in {needles!r}]
found = []
def look(path, data):
    for n in needles:
        if n in data:
            found.append(path)
def read(path, n):
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a pipe must not block the hunt
    try:
        return os.read(fd, n)
    except BlockingIOError:
        return b''
    finally:
        os.close(fd)
for pid in os.listdir('/proc'):
    if pid.isdigit():
        for name in ('environ', 'cmdline', 'maps', 'mem', 'auxv'):
            try:
                look(f'/proc/{{pid}}/{{name}}', read(f'/proc/{{pid}}/{{name}}', 1 << 20))
            except (OSError, ValueError):
                pass
        try:
            for fd in os.listdir(f'/proc/{{pid}}/fd'):
                try:
                    look(f'/proc/{{pid}}/fd/{{fd}}', read(f'/proc/{{pid}}/fd/{{fd}}', 1 << 16))
                except OSError:
                    pass
        except OSError:
            pass
look('environ', repr(dict(os.environ)).encode())
skip = ('/proc', '/sys', '/dev', '/usr', '/lib', '/lib64', '/bin', '/sbin', '/boot', '/snap')
end = time.monotonic() + 12
files = 0
for top in sorted(os.listdir('/')):
    root = '/' + top
    if root in skip or os.path.islink(root):
        continue
    for dirpath, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in ('.venv', 'node_modules', '.git')]
        for name in names:
            path = os.path.join(dirpath, name)
            try:
                if os.path.islink(path) or os.path.getsize(path) > (1 << 20):
                    continue
                look(path, read(path, 1 << 20))
                files += 1
            except OSError:
                pass
        if time.monotonic() > end:
            break
print({report})
"""


def hunt_program(needles: list[str], report: str = "found") -> str:
    """A program that looks for each of `needles` in every process's /proc files and
    descriptors, its own environment and every small file it can read (for 12 s at most), then
    prints `report`, an expression over `found` (the paths where a needle was seen) and `files`
    (how many files it read)."""
    return _PROGRAM.format(needles=needles, report=report)
