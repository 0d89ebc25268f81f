"""The Rust fuzz targets (fuzz/, see fuzz/README.md) replay their committed
seeds and fuzz for a few seconds without a crash, panic or round-trip
mismatch.

Needs ``cargo fuzz`` (``cargo install cargo-fuzz``); skipped without it. The
first run builds the targets (about a minute on one core), later runs take
seconds. The long runs are ``.ci/fuzz-smoke``'s job.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
TARGETS = ("der_check", "pkimessage", "types", "mac_params")
FLAGS = ("--release", "--debug-assertions", "--sanitizer", "none")
SECONDS_PER_TARGET = 3


def _cargo_fuzz_available() -> bool:
    if shutil.which("cargo") is None:
        return False
    probe = subprocess.run(["cargo", "fuzz", "--version"], capture_output=True, check=False)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not _cargo_fuzz_available(), reason="cargo-fuzz is not installed (cargo install cargo-fuzz)"
)


def _cargo_fuzz(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    # cargo-fuzz passes -Z flags; RUSTC_BOOTSTRAP lets a stable toolchain take them.
    env = {**os.environ, "RUSTC_BOOTSTRAP": "1"}
    return subprocess.run(
        ["cargo", "fuzz", *args],
        cwd=FUZZ,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def built() -> None:
    result = _cargo_fuzz("build", *FLAGS, timeout=1800)
    if result.returncode != 0:
        pytest.fail(f"cargo fuzz build failed:\n{result.stderr[-4000:]}")


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target_survives_its_seeds_and_a_short_run(
    built: None, target: str, tmp_path: Path
) -> None:
    corpora = [str(tmp_path)]
    seeds = FUZZ / "seeds" / target
    if seeds.is_dir():
        corpora.append(str(seeds))
    result = _cargo_fuzz(
        "run", *FLAGS, target, *corpora, "--",
        f"-max_total_time={SECONDS_PER_TARGET}", "-timeout=10",
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
