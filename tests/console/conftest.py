"""Headless Chromium for the console's browser tests (Debian's ``chromium`` and ``chromium-driver``).

No silent skip: without Chromium the fixture FAILS with what to install. ``make test`` installs the
two packages first where it can (root on Debian, see the Makefile's ``browser`` target).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = ("chromium", "chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
    # A test drives two tabs (two members of staff): the one in the background must not be throttled,
    # or on a loaded machine chromedriver times out waiting for its renderer.
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
)


def _chromium() -> tuple[str, str]:
    browser = next((found for name in CHROMIUM if (found := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.fail(
            "the console's browser tests need Chromium and its driver: apt-get install -y chromium "
            "chromium-driver (Debian; `make test` does it when run as root), then run them again",
            pytrace=False,
        )
    return browser, driver


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    binary, driver = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="staycert-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
        try:
            yield chrome
        finally:
            chrome.quit()
