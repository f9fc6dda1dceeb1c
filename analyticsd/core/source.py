"""Traffic source and channel of a visit, as Plausible writes them (pure).

The *source* is what a breakdown shows: the tagged source (`utm_source`),
given a known source's spelling when it is one ("google" → "Google", "ig" →
"Instagram"), else the referrer's known name ("Google" for any of Google's
search domains) or its bare host; `Direct / None` when there is neither.

The *channel* is Plausible's acquisition channel, decided in Plausible's
order (its Plausible.Ingestion.Acquisition rules, reimplemented here) from the
source's category (search, social, video, shopping, email, AI assistant:
`_CATEGORIES`), `utm_medium`, `utm_campaign`, `utm_source` and the click id:

    Cross-network, Paid Shopping, Paid Search, Paid Social, Paid Video,
    Display, Paid Other, Organic Shopping, Organic Social, Organic Video,
    AI Assistants, Organic Search, Email, Affiliates, Audio, SMS,
    Mobile Push Notifications, Referral, Direct

A click id counts only as Plausible counts it: `gclid` with the source
Google, `msclkid` with Bing, are Paid Search.

The *referrer* is the referrer's host without `www.` and its path without a
trailing slash ("facebook.com/page"), never its query (it may carry personal
data): what Plausible stores. A referrer from the site's own hosts is an
internal navigation, not a source; one that is not an http(s) URL is ignored.

Our category list is our own (the sources we know by name, and the common
hosts of each kind), not Plausible's copy of Google's list of some 800
sources: a rare site Google files as social (say 43things.com) is Referral
here.

Pure and cached: a site sees few distinct referrer/UTM combinations.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from urllib.parse import urlsplit

import msgspec

DIRECT = "Direct"
CROSS_NETWORK = "Cross-network"
PAID_SHOPPING = "Paid Shopping"
PAID_SEARCH = "Paid Search"
PAID_SOCIAL = "Paid Social"
PAID_VIDEO = "Paid Video"
DISPLAY = "Display"
PAID_OTHER = "Paid Other"
ORGANIC_SHOPPING = "Organic Shopping"
ORGANIC_SOCIAL = "Organic Social"
ORGANIC_VIDEO = "Organic Video"
AI_ASSISTANTS = "AI Assistants"
ORGANIC_SEARCH = "Organic Search"
EMAIL = "Email"
AFFILIATES = "Affiliates"
AUDIO = "Audio"
SMS = "SMS"
PUSH = "Mobile Push Notifications"
REFERRAL = "Referral"
CHANNELS = (
    CROSS_NETWORK, PAID_SHOPPING, PAID_SEARCH, PAID_SOCIAL, PAID_VIDEO, DISPLAY, PAID_OTHER,
    ORGANIC_SHOPPING, ORGANIC_SOCIAL, ORGANIC_VIDEO, AI_ASSISTANTS, ORGANIC_SEARCH, EMAIL,
    AFFILIATES, AUDIO, SMS, PUSH, REFERRAL, DIRECT,
)  # fmt: skip
# The channels of versions before Plausible's names, and what each became
# (data directories are migrated once, storage.statsdb; filters may still
# name the old ones). "paid" was any paid medium or click id: Plausible's
# catch-all for paid media is the nearest.
LEGACY_CHANNELS = {
    "direct": DIRECT,
    "organic": ORGANIC_SEARCH,
    "paid": PAID_OTHER,
    "social": ORGANIC_SOCIAL,
    "email": EMAIL,
    "affiliate": AFFILIATES,
    "referral": REFERRAL,
}
DIRECT_NAME = "Direct / None"


class Source(msgspec.Struct, frozen=True, array_like=True):
    channel: str
    source: str  # name shown in a breakdown; DIRECT_NAME when there is none
    referrer: str  # referrer host + path (no query: it may carry personal data)


# Referrer hosts (or any subdomain of them) → source name, by kind.
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
    "slack.com": "Slack",
    "github.com": "GitHub",
    "producthunt.com": "Product Hunt",
    "medium.com": "Medium",
    "teams.microsoft.com": "Microsoft Teams",
    "statics.teams.cdn.office.net": "Microsoft Teams",
}
_VIDEO = {
    "youtube.com": "YouTube",
    "youtu.be": "YouTube",
    "vimeo.com": "Vimeo",
    "twitch.tv": "Twitch",
    "dailymotion.com": "Dailymotion",
}
_AI = {
    "chatgpt.com": "ChatGPT",
    "chat.openai.com": "ChatGPT",
    "claude.ai": "Claude",
    "perplexity.ai": "Perplexity",
    "gemini.google.com": "Google Gemini",
    "copilot.microsoft.com": "Microsoft Copilot",
    "chat.deepseek.com": "DeepSeek",
    "phind.com": "Phind",
    "grok.com": "Grok",
}
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
# Android apps (Plausible keeps `android-app://` referrers).
_APPS = {
    "com.google.android.gm": "Gmail",
    "com.google.android.googlequicksearchbox": "Google",
    "com.google.android.youtube": "YouTube",
    "com.linkedin.android": "LinkedIn",
    "com.reddit.frontpage": "Reddit",
    "com.slack": "Slack",
    "com.twitter.android": "Twitter",
    "org.telegram.messenger": "Telegram",
}

_SEARCH, _SOCIAL_C, _VIDEO_C, _SHOPPING, _EMAIL_C, _AI_C = (
    "search", "social", "video", "shopping", "email", "ai",
)  # fmt: skip
# Source (lower case) → category: the names above, and the hosts and
# utm_source spellings that name a source of that kind.
_CATEGORIES: dict[str, str] = {
    **{n.lower(): _SEARCH for n in (*_SEARCH_BRANDS.values(), *_SEARCH_HOSTS.values())},
    **dict.fromkeys(("yahoo", "360.cn", "so.com", "google-play", "lens.google.com"), _SEARCH),
    **{n.lower(): _SOCIAL_C for n in _SOCIAL.values()},
    **dict.fromkeys(
        (
            "fb", "ig", "x", "x (twitter)", "vk", "hn", "hackernews", "producthunt",
            "line", "line.me", "flickr", "lemmy", "steamcommunity.com", "vkontakte",
        ),
        _SOCIAL_C,
    ),
    **{n.lower(): _VIDEO_C for n in _VIDEO.values()},
    **dict.fromkeys(("yt", "netflix", "hulu", "wistia", "vimeo.com"), _VIDEO_C),
    **dict.fromkeys(
        (
            "amazon", "amazon.com", "amazon.co.uk", "amazon.de", "ebay", "ebay.com",
            "ebay.co.uk", "ebay.de", "etsy", "etsy.com", "shopify", "shopify.com",
            "apps.shopify.com", "checkout.shopify.com", "checkout.stripe.com", "walmart",
            "walmart.com", "alibaba", "alibaba.com", "aliexpress", "aliexpress.com",
            "temu.com", "google shopping", "igshopping",
        ),
        _SHOPPING,
    ),
    **{n.lower(): _EMAIL_C for n in _EMAIL_HOSTS.values()},
    **dict.fromkeys(("email", "e-mail", "e_mail", "e mail", "gmail"), _EMAIL_C),
    **{n.lower(): _AI_C for n in _AI.values()},
    **dict.fromkeys(("chatgpt.com", "copilot", "gemini", "openai"), _AI_C),
}  # fmt: skip
# utm_source shorthands → source name, as Plausible maps them.
_SHORTHANDS = {
    **dict.fromkeys(
        (
            "fb", "fb-ads", "fbads", "fbad", "facebook-ads", "facebook_ads", "fcb",
            "facebook_ad", "facebook_feed_ad",
        ),
        "Facebook",
    ),
    "ig": "Instagram",
    **dict.fromkeys(("yt", "yt-ads"), "YouTube"),
    "reddit-ads": "Reddit",
    **dict.fromkeys(
        ("google_ads", "google-ads", "googleads", "gads", "google ads", "adwords"), "Google"
    ),
    "twitter-ads": "Twitter",
    **dict.fromkeys(("tiktokads", "tik.tok"), "TikTok"),
    "linktree": "Linktree",
}  # fmt: skip
# utm_source values that mean an ad whatever the medium (Plausible: the
# shorthands ending in "ads" or "ad", and "adwords").
_PAID_SOURCES = frozenset(k for k in _SHORTHANDS if k.endswith(("ads", "ad"))) | {"adwords"}
# A known source's spelling, for a utm_source given in any case.
_KNOWN_NAMES: dict[str, str] = {
    **{
        n.lower(): n
        for table in (_SOCIAL, _VIDEO, _AI, _SEARCH_BRANDS, _SEARCH_HOSTS, _EMAIL_HOSTS)
        for n in table.values()
    },
    **_SHORTHANDS,
}
_PAID_MEDIUM = re.compile(r"^(?:.*cp.*|ppc|retargeting|paid.*)$")
_SHOP_CAMPAIGN = re.compile(r"(?:[^a-df-z]|^)shop|shopping")
_DISPLAY_MEDIUMS = frozenset({"display", "banner", "expandable", "interstitial", "cpm"})
_SOCIAL_MEDIUMS = frozenset(
    {"social", "social-network", "social-media", "sm", "social network", "social media"}
)
_EMAIL_TAGS = ("email", "e-mail", "e_mail", "e mail", "newsletter")
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
    return _SEARCH_BRANDS.get(m.group(1))


def _host_of(referrer: str) -> tuple[str, str] | None:
    """(host without www., what Plausible stores: host + path without a
    trailing slash) of a referrer URL, or None if it is not one."""
    try:
        parts = urlsplit(referrer.strip())
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme == "android-app" and host:
        host = "android-app://" + host
        return host, host[:256]
    if parts.scheme not in ("http", "https") or not host or "." not in host:
        return None
    host = host.rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    return host, (host + parts.path.rstrip("/"))[:256]


def _ref_name(host: str) -> str:
    """The source name of a referrer host: its known name, else the host."""
    if host.startswith("android-app://"):
        return _APPS.get(host[len("android-app://") :], host)
    # Webmail and AI assistants first: they live on search brands' domains.
    return (
        _suffix_lookup(host, _EMAIL_HOSTS)
        or _suffix_lookup(host, _AI)
        or _search_engine(host)
        or _suffix_lookup(host, _SOCIAL)
        or _suffix_lookup(host, _VIDEO)
        or host
    )


def source_name(utm_source: str) -> str:
    """A tagged source as a breakdown shows it: a known source in its own
    spelling ("GOOGLE" → "Google", "ig" → "Instagram"), else as sent."""
    value = utm_source.strip()[:128]
    return _KNOWN_NAMES.get(value.lower(), value)


def channel_of(
    source: str, utm_medium: str = "", utm_campaign: str = "", utm_source: str = "",
    click_id: str = "",
) -> str:  # fmt: skip
    """Plausible's acquisition channel ("" source: none)."""
    s, medium, campaign = source.lower(), utm_medium.lower(), utm_campaign.lower()
    tagged = utm_source.lower()
    category = _CATEGORIES.get(s)
    paid_medium = _PAID_MEDIUM.match(medium) is not None
    paid = paid_medium or tagged in _PAID_SOURCES
    shopping = category == _SHOPPING or _SHOP_CAMPAIGN.search(campaign) is not None
    if "cross-network" in campaign:
        return CROSS_NETWORK
    if shopping and paid_medium:
        return PAID_SHOPPING
    if (
        (category == _SEARCH and paid)
        or (s == "google" and click_id == "gclid")
        or (s == "bing" and click_id == "msclkid")
    ):
        return PAID_SEARCH
    if category == _SOCIAL_C and paid:
        return PAID_SOCIAL
    if category == _VIDEO_C and paid:
        return PAID_VIDEO
    if medium in _DISPLAY_MEDIUMS:
        return DISPLAY
    if paid_medium:
        return PAID_OTHER
    if shopping:
        return ORGANIC_SHOPPING
    if category == _SOCIAL_C or medium in _SOCIAL_MEDIUMS:
        return ORGANIC_SOCIAL
    if category == _VIDEO_C or "video" in medium:
        return ORGANIC_VIDEO
    if category == _AI_C:
        return AI_ASSISTANTS
    if category == _SEARCH:
        return ORGANIC_SEARCH
    if category == _EMAIL_C or any(t in tagged or t in medium for t in _EMAIL_TAGS):
        return EMAIL
    if medium == "affiliate":
        return AFFILIATES
    if medium == "audio":
        return AUDIO
    if tagged == "sms" or medium == "sms":
        return SMS
    if medium.endswith("push") or "mobile" in medium or "notification" in medium or s == "firebase":
        return PUSH
    if medium in ("referral", "app", "link") or s:
        return REFERRAL
    return DIRECT


@lru_cache(maxsize=8192)
def classify(
    referrer: str,
    utm_source: str = "",
    utm_medium: str = "",
    click_id: str = "",
    own_hosts: frozenset[str] = frozenset(),
    utm_campaign: str = "",
) -> Source:
    """Channel, source name and cleaned referrer of one landing.

    `own_hosts` are the site's own hostnames (without www.): a referrer from
    them is an internal navigation, not a source.
    """
    ref = _host_of(referrer) if referrer else None
    if ref is not None and ref[0] in own_hosts:
        ref = None
    shown_ref = ref[1] if ref else ""
    name = source_name(utm_source) if utm_source.strip() else (_ref_name(ref[0]) if ref else "")
    channel = channel_of(
        name, utm_medium.strip(), utm_campaign.strip(), utm_source.strip(), click_id
    )
    return Source(channel, name or DIRECT_NAME, shown_ref)
