"""The tests that need something outside Python (Debian's Fashion-MNIST mirror, Chromium, SLURM) skip where it is
missing, with a message naming what to install, and fail under CI (CI=true). Checked by running pytest on a small
test file that uses the real fixtures of conftest.py with the Fashion-MNIST folder and the Chromium binary pointed
at paths that do not exist."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO

USES_FIXTURES = f'''
import sys
from pathlib import Path
sys.path.insert(0, {str(REPO / "tests")!r})
import conftest
from conftest import chromium, fmnist_mirror, require  # noqa: F401  (the fixtures, as the test modules get them)

conftest.FMNIST_MIRROR = Path("/nonexistent/fashion-mnist")
conftest.CHROMIUM = Path("/nonexistent/chromium")


def test_fashion(fmnist_mirror):
    pass


def test_chromium(chromium):
    pass


def test_direct():
    require(False, "the frobnicator", "apt-get install frobnicator")
'''


@pytest.mark.parametrize("ci", [None, "true"])
def test_missing_dependencies_skip_with_what_to_install_but_fail_under_ci(tmp_path, ci):
    (tmp_path / "test_uses_fixtures.py").write_text(USES_FIXTURES)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = ci
    proc = subprocess.run([sys.executable, "-m", "pytest", "-rsfE", "-p", "no:cacheprovider", "-q",
                           str(tmp_path / "test_uses_fixtures.py")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    out = proc.stdout
    messages = ["Fashion-MNIST in /nonexistent/fashion-mnist is missing: install the Debian package "
                "dataset-fashion-mnist",
                "Chromium (/nonexistent/chromium) is missing: install the Debian package chromium",
                "the frobnicator is missing: apt-get install frobnicator"]
    for message in messages:
        assert message in out, out
    if ci:
        # a fixture that fails makes its test an error, a test that fails fails: neither passes
        assert proc.returncode == 1 and "1 failed, 2 errors" in out, out
        assert out.count("(CI=true: the tests that need it must run)") >= 3, out
    else:
        assert proc.returncode == 0 and "3 skipped" in out, out
