"""Traffic source and channel of a visit: UTM parameters first, then the referrer.

Channels: direct, organic, paid, social, email, affiliate, referral.

* `utm_medium` decides when it is a known medium (cpc → paid, newsletter →
  email, ...). A click id (gclid, msclkid, fbclid, ...) on the landing URL
  means an ad click: paid.
* Otherwise `utm_source` decides: a social network → social, a search engine
  → organic, anything else → referral.
* Otherwise the referrer's host: search engines (any country domain or
  subdomain) → organic, social networks → social, webmail → email, our own
  site → no source at all (direct), anything else → referral. A referrer that
  is not a URL is ignored.

The source *name* is what a breakdown shows: the UTM source as sent, or a
friendly name for a known referrer host ("Google"), or the bare host.
Pure and cached: a site sees few distinct referrer/UTM combinations.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from urllib.parse import urlsplit

import msgspec

DIRECT = "direct"
ORGANIC = "organic"
PAID = "paid"
SOCIAL = "social"
EMAIL = "email"
AFFILIATE = "affiliate"
REFERRAL = "referral"
CHANNELS = (DIRECT, ORGANIC, PAID, SOCIAL, EMAIL, AFFILIATE, REFERRAL)
DIRECT_NAME = "Direct / None"


class Source(msgspec.Struct, frozen=True, array_like=True):
    channel: str
    source: str  # name shown in a breakdown; DIRECT_NAME when there is none
    referrer: str  # referrer host + path (no query: it may carry personal data)


_MEDIUM = {
    **dict.fromkeys(
        (
            "cpc",
            "ppc",
            "cpm",
            "cpv",
            "cpa",
            "paid",
            "paidsearch",
            "paid-search",
            "paid_search",
            "paidsocial",
            "paid-social",
            "paid_social",
            "display",
            "banner",
            "retargeting",
            "ads",
            "ad",
        ),
        PAID,
    ),
    **dict.fromkeys(("email", "e-mail", "e_mail", "mail", "newsletter"), EMAIL),
    **dict.fromkeys(("social", "social-media", "social_media", "socialmedia", "sm"), SOCIAL),
    **dict.fromkeys(("affiliate", "affiliates", "partner", "partners"), AFFILIATE),
    "organic": ORGANIC,
    **dict.fromkeys(("referral", "referer", "referrer", "link"), REFERRAL),
}

# Social networks: host (or any subdomain of it) → display name.
_SOCIAL = {
    "facebook.com": "Facebook",
    "fb.com": "Facebook",
    "fb.me": "Facebook",
    "messenger.com": "Facebook",
    "t.co": "Twitter",
    "twitter.com": "Twitter",
    "x.com": "Twitter",
    "instagram.com": "Instagram",
    "linkedin.com": "LinkedIn",
    "lnkd.in": "LinkedIn",
    "reddit.com": "Reddit",
    "redd.it": "Reddit",
    "youtube.com": "YouTube",
    "youtu.be": "YouTube",
    "tiktok.com": "TikTok",
    "pinterest.com": "Pinterest",
    "pin.it": "Pinterest",
    "threads.net": "Threads",
    "bsky.app": "Bluesky",
    "mastodon.social": "Mastodon",
    "news.ycombinator.com": "Hacker News",
    "vk.com": "VKontakte",
    "weibo.com": "Weibo",
    "quora.com": "Quora",
    "tumblr.com": "Tumblr",
    "snapchat.com": "Snapchat",
    "discord.com": "Discord",
    "discord.gg": "Discord",
    "t.me": "Telegram",
    "telegram.org": "Telegram",
    "whatsapp.com": "WhatsApp",
    "wa.me": "WhatsApp",
    "ok.ru": "Odnoklassniki",
    "xing.com": "XING",
}
# utm_source spellings of social networks (lower case).
_SOCIAL_SOURCES = frozenset(
    {
        "facebook",
        "fb",
        "twitter",
        "x",
        "instagram",
        "ig",
        "linkedin",
        "reddit",
        "youtube",
        "tiktok",
        "pinterest",
        "threads",
        "bluesky",
        "mastodon",
        "hackernews",
        "hn",
        "vk",
        "weibo",
        "quora",
        "tumblr",
        "snapchat",
        "discord",
        "telegram",
        "whatsapp",
        "xing",
    }
)
_SEARCH_BRANDS = {
    "google": "Google",
    "bing": "Bing",
    "yahoo": "Yahoo!",
    "yandex": "Yandex",
    "baidu": "Baidu",
    "duckduckgo": "DuckDuckGo",
    "ecosia": "Ecosia",
    "qwant": "Qwant",
    "naver": "Naver",
    "seznam": "Seznam",
    "startpage": "Startpage",
    "ask": "Ask",
    "sogou": "Sogou",
    "so": "360 Search",
    "daum": "Daum",
    "kagi": "Kagi",
}
# Search engines that live on a subdomain of a general brand.
_SEARCH_HOSTS = {"search.brave.com": "Brave", "search.aol.com": "AOL", "presearch.com": "Presearch"}
_SEARCH_SOURCES = frozenset(_SEARCH_BRANDS) | {"brave", "aol", "presearch"}
_EMAIL_HOSTS = {
    "mail.google.com": "Gmail",
    "outlook.live.com": "Outlook",
    "outlook.office.com": "Outlook",
    "outlook.office365.com": "Outlook",
    "mail.yahoo.com": "Yahoo! Mail",
    "mail.proton.me": "Proton Mail",
    "mail.yandex.ru": "Yandex Mail",
    "webmail.gmx.net": "GMX",
    "navigator.gmx.net": "GMX",
    "mail.aol.com": "AOL Mail",
}
# brand.tld, brand.co.uk, brand.com.au: the brand is the label before the
# public suffix (one label, or two when the first is a generic second level).
_BRAND_RE = re.compile(r"(?:^|\.)([a-z0-9-]+)\.(?:(?:com?|net|org|ne|or|ac)\.)?[a-z]{2,6}$")


def _suffix_lookup(host: str, table: Mapping[str, str]) -> str | None:
    """The table entry for host or any parent domain of it."""
    while True:
        name = table.get(host)
        if name is not None:
            return name
        dot = host.find(".")
        if dot < 0:
            return None
        host = host[dot + 1 :]


def _search_engine(host: str) -> str | None:
    name = _suffix_lookup(host, _SEARCH_HOSTS)
    if name is not None:
        return name
    m = _BRAND_RE.search(host)
    if m is None:
        return None
    brand = _SEARCH_BRANDS.get(m.group(1))
    if brand is None:
        return None
    # Not every page of a search brand is a search: mail.google.com is mail.
    if _suffix_lookup(host, _EMAIL_HOSTS) is not None:
        return None
    return brand


def _host_of(referrer: str) -> tuple[str, str] | None:
    """(host without www., host + path) of a referrer URL, or None if it is not one."""
    try:
        parts = urlsplit(referrer.strip())
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host or "." not in host:
        return None
    host = host.rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    path = parts.path if parts.path not in ("", "/") else ""
    return host, (host + path)[:256]


def _by_utm_source(source: str) -> str:
    key = source.strip().lower()
    if key in _SOCIAL_SOURCES or _suffix_lookup(key, _SOCIAL) is not None:
        return SOCIAL
    if key in _SEARCH_SOURCES or _search_engine(key) is not None:
        return ORGANIC
    if key in ("newsletter", "email", "mail"):
        return EMAIL
    return REFERRAL


@lru_cache(maxsize=8192)
def classify(
    referrer: str,
    utm_source: str = "",
    utm_medium: str = "",
    click_id: str = "",
    own_hosts: frozenset[str] = frozenset(),
) -> Source:
    """Channel, source name and cleaned referrer of one landing.

    `own_hosts` are the site's own hostnames (without www.): a referrer from
    them is an internal navigation, not a source.
    """
    ref = _host_of(referrer) if referrer else None
    if ref is not None and (ref[0] in own_hosts):
        ref = None
    shown_ref = ref[1] if ref else ""
    utm_source, utm_medium = utm_source.strip(), utm_medium.strip()
    name = utm_source[:128] if utm_source else ""
    if utm_medium:
        channel = _MEDIUM.get(utm_medium.lower())
        if channel is None and utm_medium.lower().startswith(("paid", "cp")):
            channel = PAID
        if channel is not None:
            return Source(channel, name or _ref_name(ref) or DIRECT_NAME, shown_ref)
    if click_id:
        return Source(PAID, name or _ref_name(ref) or _CLICK_NAMES.get(click_id, ""), shown_ref)
    if utm_source:
        return Source(_by_utm_source(utm_source), name, shown_ref)
    if ref is None:
        return Source(DIRECT, DIRECT_NAME, "")
    host = ref[0]
    engine = _search_engine(host)
    if engine is not None:
        return Source(ORGANIC, engine, shown_ref)
    social = _suffix_lookup(host, _SOCIAL)
    if social is not None:
        return Source(SOCIAL, social, shown_ref)
    mail = _suffix_lookup(host, _EMAIL_HOSTS)
    if mail is not None:
        return Source(EMAIL, mail, shown_ref)
    return Source(REFERRAL, host, shown_ref)


_CLICK_NAMES = {
    "gclid": "Google",
    "gbraid": "Google",
    "wbraid": "Google",
    "msclkid": "Bing",
    "fbclid": "Facebook",
    "ttclid": "TikTok",
    "twclid": "Twitter",
    "li_fat_id": "LinkedIn",
}


def _ref_name(ref: tuple[str, str] | None) -> str:
    if ref is None:
        return ""
    host = ref[0]
    return (
        _search_engine(host)
        or _suffix_lookup(host, _SOCIAL)
        or _suffix_lookup(host, _EMAIL_HOSTS)
        or host
    )
