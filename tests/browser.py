"""Test helper: headless Chromium, for the tests that open pages in a real browser.

`make test` installs Debian's chromium when it can. Without a browser these tests are
skipped with the reason shown, except under CI=true, where a missing browser fails them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

#: As the issue asks; the networking flags also stop Chromium's own calls home, which this
#: machine's closed network would refuse.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def find_chromium() -> str:
    """The Chromium executable; skips the test without one (fails it under CI=true)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    reason = "Chromium is not installed (make test installs Debian's chromium when run as root)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must run the real-browser report test")
    pytest.skip(reason)


def run_chromium(chromium: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """One headless Chromium run with a fresh profile, console messages on stderr."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                *arguments,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def console_messages(stderr: str) -> list[str]:
    """What the page wrote to the console (the report has no script, so anything is wrong)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]
