"""User agent classification against real user agent strings."""

from __future__ import annotations

import pytest

from analyticsd.core.useragent import MAX_REAL_UA, UAClassifier

# (user agent, browser, browser version, os, os version, device), as
# Plausible writes them (UAInspector's names, major.minor versions, device
# Desktop / Mobile / Tablet, "" when unknown); device "bot" means the event
# must be counted as a bot.
UAS = [
    # desktop
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "Chrome", "120.0", "Windows", "10", "Desktop",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/120.0.0.0",
        "Chrome", "120.0", "Mac", "10.15", "Desktop",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:122.0) Gecko/20100101 Firefox/122.0",
        "Firefox", "122.0", "Windows", "10", "Desktop",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.2 Safari/605.1.15",
        "Safari", "17.2", "Mac", "10.15", "Desktop",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Edge/120.0.0.0",
        "Microsoft Edge", "120.0", "Windows", "10", "Desktop",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
        "Microsoft Edge", "120.0", "Windows", "10", "Desktop",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
        "Opera", "106.0", "Windows", "10", "Desktop",
    ),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Firefox", "121.0", "Ubuntu", "", "Desktop",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/119.0.0.0 Safari/537.36",
        "Chrome", "119.0", "GNU/Linux", "", "Desktop",
    ),
    # mobile
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
        "Safari", "17.2", "iOS", "17.2", "Mobile",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 Chrome/120.0.0.0 "
        "Mobile Safari/537.36",
        "Chrome", "120.0", "Android", "14", "Mobile",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
        "Chrome", "120.0", "iOS", "17.2", "Mobile",
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
        "Samsung Browser", "23.0", "Android", "13", "Mobile",
    ),
    (
        "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
        "Firefox", "121.0", "Android", "14", "Mobile",
    ),
    # tablet
    (
        "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.2 Mobile/15E148 Safari/604.1",
        "Safari", "17.2", "iPadOS", "17.2", "Tablet",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "Chrome", "120.0", "Android", "14", "Tablet",
    ),
    (
        "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Silk/120.3.1 like Chrome/120.0.6099.230 Safari/537.36",
        None, None, "Android", "11", "Tablet",
    ),
    # in-app browsers are Plausible's "Mobile App", without a version
    (
        "Mozilla/5.0 (Linux; Android 10; K; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/120.0.0.0 Mobile Safari/537.36",
        "Mobile App", "", "Android", "10", "Mobile",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/445.0.0.0]",
        "Mobile App", "", "iOS", "17.2", "Mobile",
    ),
    # televisions count as desktops; a client naming no OS has no device
    (
        "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/79.0.3945.79 Safari/537.36 WebAppManager",
        "Chrome", "79.0", "Web0S", "", "Desktop",
    ),
    ("Mozilla/5.0 (compatible)", "", "", "", "", ""),
    (
        "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1; Trident/6.0)",
        "Internet Explorer", "10.0", "Windows", "7", "Desktop",
    ),
    # crawlers
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", *[""] * 4, "bot"),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", *[""] * 4, "bot"),
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/120.0.6099.71 Mobile Safari/537.36 "
        "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        *[""] * 4, "bot",
    ),
    ("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", *[""] * 4, "bot"),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", *[""] * 4, "bot"),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", *[""] * 4, "bot"),
    ("SomeCrawler/1.0", *[""] * 4, "bot"),
    ("UnknownBot/1.0", *[""] * 4, "bot"),
    ("curl/8.5.0", *[""] * 4, "bot"),
    ("python-requests/2.31.0", *[""] * 4, "bot"),
    ("Wget/1.21.4", *[""] * 4, "bot"),
    # headless browsers and automation tools
    ("HeadlessChrome/120.0.0.0", *[""] * 4, "bot"),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/120.0.0.0 Safari/537.36",
        *[""] * 4, "bot",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0.0.0 "
        "Safari/537.36 Puppeteer",
        *[""] * 4, "bot",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36 "
        "Playwright",
        *[""] * 4, "bot",
    ),
    ("Mozilla/5.0 (Windows NT 10.0) Chrome/120.0.0.0 Selenium", *[""] * 4, "bot"),
    (
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) "
        "PhantomJS/2.1.1 Safari/538.1",
        *[""] * 4, "bot",
    ),
    # empty and absurd
    ("", *[""] * 4, "bot"),
    ("x", *[""] * 4, "bot"),
    ("12345678901234", *[""] * 4, "bot"),
    ("Mozilla/5.0 " + "A" * MAX_REAL_UA, *[""] * 4, "bot"),
]  # fmt: skip


@pytest.fixture(scope="module")
def classifier() -> UAClassifier:
    return UAClassifier()


@pytest.mark.parametrize(("ua", "browser", "version", "os", "os_version", "device"), UAS)
def test_user_agent(
    classifier: UAClassifier,
    ua: str,
    browser: str | None,
    version: str | None,
    os: str,
    os_version: str,
    device: str,
) -> None:
    info = classifier.classify(ua)
    assert info.device == device
    assert info.bot == (device == "bot")
    if browser is not None:
        assert (info.browser, info.browser_version) == (browser, version)
    assert (info.os, info.os_version) == (os, os_version)


def test_enough_user_agents() -> None:
    assert len(UAS) >= 20
    assert {row[5] for row in UAS} == {"Desktop", "Mobile", "Tablet", "", "bot"}


def test_results_are_cached(classifier: UAClassifier) -> None:
    ua = "Mozilla/5.0 (X11; Linux x86_64; rv:999.0) Gecko/20100101 Firefox/999.0"
    first = classifier.classify(ua)
    assert classifier.classify(ua) is first
