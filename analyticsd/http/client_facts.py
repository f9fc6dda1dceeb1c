"""Facts about the client of one request, derived while the request is in memory.

This is the only place that sees the IP address and the user agent string.
It turns them into what the analytics need (visitor ids, browser/OS/device,
bot flag, country/region/city, language) and forgets them: they are never
written anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from analyticsd.core.errors import NoSalt
from analyticsd.core.geo import GeoInfo, GeoSource
from analyticsd.core.useragent import ClientInfo, UAClassifier
from analyticsd.core.visitor import SESSION_GAP_MS, local_day, visitor_id

_LANG = re.compile(
    r"^\s*([A-Za-z]{2,3})(?:[-_]([A-Za-z0-9]{2,8}))?(?:[-_][A-Za-z0-9]{1,8})*\s*(?:;|,|$)"
)


def language_of(accept_language: str | None) -> str:
    """The preferred language tag, e.g. "en-US" or "de"; "" when absent or odd."""
    if not accept_language:
        return ""
    m = _LANG.match(accept_language[:64])
    if m is None:
        return ""
    lang, region = m.group(1).lower(), m.group(2)
    if region is None:
        return lang
    return f"{lang}-{region.upper() if len(region) == 2 else region}"


class Facts(NamedTuple):
    client: ClientInfo
    geo: GeoInfo
    lang: str


class ClientProfiler:
    def __init__(
        self,
        classifier: UAClassifier,
        geo: GeoSource,
        salt_of_day: Callable[[int], bytes | None],
    ) -> None:
        self.classifier = classifier
        self.geo = geo
        # day number → that day's salt (made if it may exist), or None.
        self._salt_of_day = salt_of_day

    def facts(self, ip: str, ua: str, accept_language: str | None) -> Facts:
        client = self.classifier.classify(ua)
        # Bots are counted, not located: skip the lookup.
        geo = self.geo.lookup(ip) if not client.bot else self.geo.lookup("")
        return Facts(client, geo, language_of(accept_language))

    def visitors(
        self, site_id: str, tz_name: str, ip: str, ua: str, now_ms: int
    ) -> tuple[str, str]:
        """(visitor id under the salt of the site's local day, id under the
        previous day's salt just after local midnight, else "")."""
        day, since_midnight = local_day(now_ms, tz_name)
        salt = self._salt_of_day(day)
        if salt is None:  # a clock far off the rotation's; never in practice
            raise NoSalt(f"no visitor salt for day {day}")
        current = visitor_id(salt, site_id, ip, ua)
        previous = ""
        # Only just after midnight can a visit in progress span two salts.
        if since_midnight <= SESSION_GAP_MS:
            old = self._salt_of_day(day - 1)
            if old is not None:
                previous = visitor_id(old, site_id, ip, ua)
        return current, previous
