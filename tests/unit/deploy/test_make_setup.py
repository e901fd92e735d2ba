"""`make setup` installs the torch build the user asks for: TORCH_INDEX picks a CUDA (or CPU)
build; the README's GPU line is a real CUDA spec, not the CPU default again."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _dry_run(tmp_path: Path, *assignments: str) -> str:
    done = subprocess.run(
        ["make", "-n", "setup", f"VENV={tmp_path / 'venv'}", *assignments],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout


def test_torch_index_selects_the_build(tmp_path):
    cuda = "https://download.pytorch.org/whl/cu128"
    out = _dry_run(tmp_path, f"TORCH_INDEX={cuda}")
    assert f'pip install -q "torch==2.13.0" --index-url {cuda}' in out
    assert "--index-url" not in _dry_run(tmp_path)


def test_the_readme_gpu_line_names_a_cuda_index():
    text = (REPO / "README.md").read_text()
    assert "make setup TORCH_INDEX=https://download.pytorch.org/whl/cu" in text
    assert "TORCH_SPEC='torch==2.13.0'" not in text
