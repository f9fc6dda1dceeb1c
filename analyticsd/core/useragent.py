"""User agent → browser, OS, device class and bot flag.

Parsing uses ua-parser's Rust resolver (the maintained uap-core regexes);
bot detection uses crawlerdetect's maintained crawler list compiled into one
RE2 automaton, plus the automation tools that list leaves out (Puppeteer,
Playwright, Selenium, ...), plus absurd strings (empty, tiny, huge). Results
are cached per user agent string: real traffic repeats a few thousand of them.

The user agent is classified once, when the request arrives, and only the
result is kept: the string itself never reaches the spool, SQLite or Redis.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

import msgspec

log = logging.getLogger(__name__)

# Longer than any browser sends; such strings are scripts or attacks. They are
# classified as bots before the cache, so they cannot flood it either.
MAX_REAL_UA = 1024
MIN_REAL_UA = 8
CACHE_SIZE = 16384


class ClientInfo(msgspec.Struct, frozen=True, array_like=True):
    """What we keep of a user agent. Empty strings mean unknown."""

    browser: str
    browser_version: str
    os: str
    os_version: str
    device: str  # Desktop | Mobile | Tablet | "" (unknown) | bot
    bot: bool


DESKTOP, MOBILE, TABLET = "Desktop", "Mobile", "Tablet"
MOBILE_APP = "Mobile App"
BOT = ClientInfo("", "", "", "", "bot", True)
UNKNOWN_CLIENT = ClientInfo("", "", "", "", "", False)

# Tools that drive a real browser: crawlerdetect does not list all of them.
_AUTOMATION = re.compile(
    r"headless|puppeteer|playwright|selenium|webdriver|phantomjs|slimerjs|"
    r"lighthouse|pagespeed|cypress|nightmare|electron/.* headless",
    re.IGNORECASE,
)

# ua-parser's names → the names Plausible writes (its UAInspector's, with
# Plausible's own merges: "Chrome Mobile" is Chrome, an app's web view is
# "Mobile App").
_BROWSER_NAMES = {
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": MOBILE_APP,
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge": "Microsoft Edge",
    "Edge Mobile": "Microsoft Edge",
    "Opera Mobile": "Opera",
    "Opera Mini": "Opera",
    "Samsung Internet": "Samsung Browser",
    "IE": "Internet Explorer",
    "DuckDuckGo Mobile": "DuckDuckGo Privacy Browser",
    "MiuiBrowser": "MIUI Browser",
    "Yandex Browser Lite": "Yandex Browser",
    "Other": "",
}
# In-app browsers ua-parser names by their app: Plausible's "Mobile App",
# without a version.
_APPS = frozenset(
    {"Facebook", "Instagram", "LinkedIn", "Twitter", "Pinterest", "Snapchat", "TikTok",
     "WeChat", "Line", "Discord", "Slack"}
)  # fmt: skip
_OS_NAMES = {"Mac OS X": "Mac", "Linux": "GNU/Linux", "Other": ""}
# Names of earlier versions → Plausible's (stored values are migrated once,
# storage.statsdb; records enriched before an upgrade are mapped as they are
# counted, core.dimensions).
LEGACY_BROWSERS = {
    "Edge": "Microsoft Edge",
    "Samsung Internet": "Samsung Browser",
    "IE": "Internet Explorer",
    "Chrome WebView": MOBILE_APP,
    "DuckDuckGo Mobile": "DuckDuckGo Privacy Browser",
    "MiuiBrowser": "MIUI Browser",
}
LEGACY_OSES = {"macOS": "Mac", "Linux": "GNU/Linux"}
LEGACY_DEVICES = {"desktop": DESKTOP, "mobile": MOBILE, "tablet": TABLET}


def _version(*parts: str | None) -> str:
    """major.minor, as Plausible keeps versions ("120.0", "10.15", "10")."""
    out = []
    for p in parts[:2]:
        if not p:
            break
        out.append(p)
    return ".".join(out)


class _CrawlerPatterns:
    """crawlerdetect's lists compiled for RE2 (linear time on any input)."""

    def __init__(self) -> None:
        import re2
        from crawlerdetect.providers.crawlers import data as crawlers
        from crawlerdetect.providers.exclusions import data as exclusions

        opts = re2.Options()
        opts.case_sensitive = False
        opts.max_mem = 64 << 20
        # RE2 has no look-ahead; the one pattern using it gets plain `re`.
        plain = [p for p in crawlers if "(?" not in p]
        special = [p for p in crawlers if "(?" in p]
        self._crawler = re2.compile("(?:" + "|".join(plain) + ")", opts)
        self._special = re.compile("|".join(special), re.IGNORECASE) if special else None
        # Exclusions are browser tokens removed before matching ("Safari/...").
        self._exclusions = re.compile("|".join(exclusions), re.IGNORECASE)

    def is_crawler(self, ua: str) -> bool:
        rest = self._exclusions.sub("", ua).strip()
        if not rest:
            return False
        if self._crawler.search(rest):
            return True
        return bool(self._special and self._special.search(rest))


class UAClassifier:
    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        from ua_parser import Domain, load_builtins
        from ua_parser.regex import Resolver

        # Browser and OS only: the device domain costs a third of the parse
        # and says little our own tablet/mobile rules and the crawler list
        # do not (measured: 60k → 90k distinct strings/s).
        # Nor is the device list compiled: it is the largest (633 of 1,270
        # patterns) and took 14 of the resolver's 25 MB resident.
        ua, os_, _ = load_builtins()
        self._resolve = Resolver((ua, os_, []))
        self._domains = Domain.USER_AGENT | Domain.OS
        self._crawlers = _CrawlerPatterns()
        self.classify = lru_cache(maxsize=cache_size)(self._classify)

    def _classify(self, ua: str) -> ClientInfo:
        if not MIN_REAL_UA <= len(ua) <= MAX_REAL_UA or not any(c.isalpha() for c in ua):
            return BOT
        if _AUTOMATION.search(ua) or self._crawlers.is_crawler(ua):
            return BOT
        res = self._resolve(ua, self._domains)
        browser = os_name = browser_version = os_version = ""
        if res.user_agent is not None:
            fam = res.user_agent.family
            browser = MOBILE_APP if fam in _APPS else _BROWSER_NAMES.get(fam, fam)
            if browser and browser != MOBILE_APP:
                browser_version = _version(res.user_agent.major, res.user_agent.minor)
        if res.os is not None:
            fam = res.os.family
            os_name = _OS_NAMES.get(fam, fam)
            if os_name:
                os_version = _version(res.os.major, res.os.minor)
            if os_name == "iOS" and _IPAD.search(ua) and os_version.split(".")[0] >= "13":
                os_name = "iPadOS"  # as UAInspector names iPads since iPadOS 13
        return ClientInfo(
            browser=browser[:64],
            browser_version=browser_version[:32],
            os=os_name[:64],
            os_version=os_version[:32],
            device=device_class(ua, os_name),
            bot=False,
        )


_TABLET = re.compile(r"ipad|tablet|kindle|silk/|playbook|nexus (7|9|10)|sm-t\d|sm-x\d", re.I)
_MOBILE = re.compile(r"mobi|iphone|ipod|android.*mobile|windows phone|blackberry|opera mini", re.I)
# Televisions and game consoles: Plausible counts them as desktops.
_BIG_SCREEN = re.compile(
    r"smart-?tv|googletv|appletv|hbbtv|web0s|netcast|crkey|playstation|xbox|nintendo", re.I
)
_IPAD = re.compile(r"ipad", re.I)
_MOBILE_OSES = frozenset({"iOS", "Windows Phone", "KaiOS", "BlackBerry OS", "Symbian OS", "Tizen"})


def device_class(ua: str, os_name: str) -> str:
    """Plausible's device (its `visit:device`): Desktop, Mobile or Tablet from
    the UA's own words first, then its OS; "" when neither says (Plausible's
    "(not set)")."""
    if _BIG_SCREEN.search(ua):
        return DESKTOP
    if _TABLET.search(ua) or os_name == "iPadOS":
        return TABLET
    if _MOBILE.search(ua):
        return MOBILE
    if os_name == "Android":  # Android without "Mobile" is a tablet by convention
        return TABLET
    if os_name in _MOBILE_OSES:
        return MOBILE
    return DESKTOP if os_name else ""
