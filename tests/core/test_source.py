"""Traffic source classification: Plausible's acquisition channel tests (as data),
every case of the reference attribution tests, plus more."""

from __future__ import annotations

import pytest

from analyticsd.core.source import CHANNELS, DIRECT_NAME, channel_of, classify

# Plausible's test/plausible/ingestion/acquisition_test.exs, its static
# cases: (referrer_source, utm_medium, utm_campaign, utm_source,
# click_id_param, expected channel).
PLAUSIBLE = [
    ("", "", "", "", "", "Direct"),
    ("", "", "cross-network", "", "", "Cross-network"),
    ("", "paid", "shopping", "", "", "Paid Shopping"),
    ("shopify.com", "paid", "", "", "", "Paid Shopping"),
    ("shopify", "paid", "", "shopify", "", "Paid Shopping"),
    ("DuckDuckGo", "paid", "", "", "", "Paid Search"),
    ("Google", "", "", "", "gclid", "Paid Search"),
    ("DuckDuckGo", "", "", "", "gclid", "Organic Search"),
    ("Bing", "", "", "", "msclkid", "Paid Search"),
    ("DuckDuckGo", "", "", "", "msclkid", "Organic Search"),
    ("google", "paid", "", "google", "", "Paid Search"),
    ("TikTok", "paid", "", "", "", "Paid Social"),
    ("tiktok", "paid", "", "tiktok", "", "Paid Social"),
    ("Youtube", "paid", "", "", "", "Paid Video"),
    ("youtube", "paid", "", "youtube", "", "Paid Video"),
    ("", "banner", "", "", "", "Display"),
    ("", "cpc", "", "", "", "Paid Other"),
    ("walmart.com", "", "", "", "", "Organic Shopping"),
    ("walmart", "", "", "walmart", "", "Organic Shopping"),
    ("", "", "shop", "", "", "Organic Shopping"),
    ("Facebook", "", "", "", "", "Organic Social"),
    ("X (Twitter)", "", "", "twitter", "", "Organic Social"),
    ("", "social", "", "", "", "Organic Social"),
    ("Vimeo", "", "", "", "", "Organic Video"),
    ("vimeo", "", "", "vimeo", "", "Organic Video"),
    ("", "video", "", "", "", "Organic Video"),
    ("DuckDuckGo", "", "", "", "", "Organic Search"),
    ("duckduckgo", "", "", "duckduckgo", "", "Organic Search"),
    ("", "referral", "", "", "", "Referral"),
    ("email", "", "", "email", "", "Email"),
    ("", "email", "", "", "", "Email"),
    ("", "affiliate", "", "", "", "Affiliates"),
    ("", "audio", "", "", "", "Audio"),
    ("sms", "", "", "sms", "", "SMS"),
    ("", "sms", "", "", "", "SMS"),
    ("", "app-push", "", "", "", "Mobile Push Notifications"),
    ("", "example-mobile", "", "", "", "Mobile Push Notifications"),
    ("othersite.com", "", "", "", "", "Referral"),
    ("Threads", "", "", "threads", "", "Organic Social"),
    ("Instagram", "", "", "ig", "", "Organic Social"),
    ("Youtube", "", "", "yt", "", "Organic Video"),
    ("Youtube", "", "", "yt-ads", "", "Paid Video"),
    ("Facebook", "", "", "fb", "", "Organic Social"),
    ("Facebook", "", "", "fb-ads", "", "Paid Social"),
    ("Facebook", "", "", "fbad", "", "Paid Social"),
    ("Facebook", "", "", "facebook-ads", "", "Paid Social"),
    ("Reddit", "", "", "Reddit-ads", "", "Paid Social"),
    ("Google", "", "", "google_ads", "", "Paid Search"),
    ("Google", "", "", "Google-ads", "", "Paid Search"),
    ("Google", "", "", "Adwords", "", "Paid Search"),
    ("X (Twitter)", "", "", "twitter-ads", "", "Paid Social"),
    ("Reddit", "", "", "", "", "Organic Social"),
    ("Perplexity", "", "", "", "", "AI Assistants"),
    ("Microsoft Teams", "", "", "", "", "Organic Social"),
    ("Wikipedia", "", "", "", "", "Referral"),
    ("Bing", "", "", "", "", "Organic Search"),
    ("Brave", "", "", "", "", "Organic Search"),
    ("Yandex", "", "", "", "", "Organic Search"),
    ("Discord", "", "", "", "", "Organic Social"),
    ("Baidu", "", "", "", "", "Organic Search"),
    ("Telegram", "", "", "", "", "Organic Social"),
    ("Sogou", "", "", "", "", "Organic Search"),
    ("Linktree", "", "", "", "", "Referral"),
    ("Linktree", "", "", "linktree", "", "Referral"),
    ("Hacker News", "", "", "", "", "Organic Social"),
    ("Yahoo!", "", "", "", "", "Organic Search"),
    ("Gmail", "", "", "", "", "Email"),
    ("Newsletter-UK", "", "", "Newsletter-UK", "", "Email"),
    ("temu.com", "", "", "", "", "Organic Shopping"),
    ("Telegram", "", "", "Telegram", "", "Organic Social"),
    ("Bluesky", "", "", "", "", "Organic Social"),
    ("Mastodon", "", "", "", "", "Organic Social"),
    ("Google Gemini", "", "", "", "", "AI Assistants"),
    ("ChatGPT", "", "", "", "", "AI Assistants"),
    ("Claude", "", "", "", "", "AI Assistants"),
    ("Phind", "", "", "", "", "AI Assistants"),
    ("DeepSeek", "", "", "", "", "AI Assistants"),
    ("Microsoft Copilot", "", "", "", "", "AI Assistants"),
    ("Grok", "", "", "", "", "AI Assistants"),
    ("Slack", "", "", "", "", "Organic Social"),
    ("producthunt", "", "", "", "", "Organic Social"),
    ("GitHub", "", "", "", "", "Organic Social"),
    ("steamcommunity.com", "", "", "", "", "Organic Social"),
    ("Vkontakte", "", "", "", "", "Organic Social"),
    ("Threads", "", "", "", "", "Organic Social"),
    ("Ecosia", "", "", "", "", "Organic Search"),
    ("Kagi", "", "", "", "", "Organic Search"),
    ("Microsoft 365", "", "", "", "", "Referral"),
    ("Google", "display", "", "", "123identifier", "Display"),
]


@pytest.mark.parametrize(("source", "medium", "campaign", "tagged", "click", "channel"), PLAUSIBLE)
def test_plausible_channel(
    source: str, medium: str, campaign: str, tagged: str, click: str, channel: str
) -> None:
    assert channel_of(source, medium, campaign, tagged, click) == channel


def test_every_channel_is_plausibles() -> None:
    assert {row[-1] for row in PLAUSIBLE} == set(CHANNELS)


# (referrer, utm_source, utm_medium, click_id, expected channel)
CASES = [
    # reference: no data, UTM medium
    ("", "", "", "", "Direct"),
    ("", "google", "cpc", "", "Paid Search"),
    ("", "google", "ppc", "", "Paid Search"),
    ("", "google", "paid", "", "Paid Search"),
    ("", "google", "paidsearch", "", "Paid Search"),
    ("", "mailchimp", "email", "", "Email"),
    ("", "campaign-monitor", "newsletter", "", "Email"),
    ("", "facebook", "social", "", "Organic Social"),
    ("", "twitter", "social-media", "", "Organic Social"),
    ("", "partner123", "affiliate", "", "Affiliates"),
    ("", "partner456", "partner", "", "Referral"),
    ("", "google", "organic", "", "Organic Search"),
    ("", "blog.example.com", "referral", "", "Referral"),
    # reference: UTM source only (a known source in any spelling)
    ("", "facebook", "", "", "Organic Social"),
    ("", "twitter", "", "", "Organic Social"),
    ("", "instagram", "", "", "Organic Social"),
    ("", "linkedin", "", "", "Organic Social"),
    ("", "google", "", "", "Organic Search"),
    ("", "blog.example.com", "", "", "Referral"),
    # reference: referrer analysis
    ("https://www.facebook.com/some-post", "", "", "", "Organic Social"),
    ("https://t.co/abc123", "", "", "", "Organic Social"),
    ("https://x.com/user/status/123", "", "", "", "Organic Social"),
    ("https://www.instagram.com/p/abc123/", "", "", "", "Organic Social"),
    ("https://www.linkedin.com/feed/", "", "", "", "Organic Social"),
    ("https://www.reddit.com/r/programming/", "", "", "", "Organic Social"),
    ("https://www.youtube.com/watch?v=abc123", "", "", "", "Organic Video"),
    ("https://www.tiktok.com/@user/video/123", "", "", "", "Organic Social"),
    ("https://www.google.com/search?q=test", "", "", "", "Organic Search"),
    ("https://www.bing.com/search?q=test", "", "", "", "Organic Search"),
    ("https://duckduckgo.com/?q=test", "", "", "", "Organic Search"),
    ("https://search.yahoo.com/search?p=test", "", "", "", "Organic Search"),
    ("https://blog.example.com/article", "", "", "", "Referral"),
    ("https://facebook.com/page", "", "", "", "Organic Social"),
    ("not-a-valid-url", "", "", "", "Direct"),
    # reference: priority
    ("https://www.facebook.com/", "newsletter", "email", "", "Email"),
    ("https://www.google.com/search", "", "", "", "Organic Search"),
    # reference: edge cases
    ("", "", "", "", "Direct"),
    ("", "", "CPC", "", "Paid Other"),
    ("", "", "Cpc", "", "Paid Other"),
    ("", "", "cpc", "", "Paid Other"),
    ("", "FACEBOOK", "", "", "Organic Social"),
    ("", "Facebook", "", "", "Organic Social"),
    ("https://subdomain.facebook.com/page", "", "", "", "Organic Social"),
    ("https://www.google.co.uk/search", "", "", "", "Organic Search"),
    ("https://www.google.de/search", "", "", "", "Organic Search"),
    ("https://yandex.ru/search", "", "", "", "Organic Search"),
    # reference: complex scenarios
    ("", "facebook", "cpc", "", "Paid Social"),
    ("https://twitter.com/user/status/123", "", "", "", "Organic Social"),
    ("", "mailchimp", "email", "", "Email"),
    ("", "partner-site", "affiliate", "", "Affiliates"),
    ("", "google", "cpc", "", "Paid Search"),
    # country search domains and subdomains
    ("https://www.google.com.au/", "", "", "", "Organic Search"),
    ("https://www.google.co.jp/search?q=x", "", "", "", "Organic Search"),
    ("https://www.google.com.br/", "", "", "", "Organic Search"),
    ("https://news.google.fr/", "", "", "", "Organic Search"),
    ("https://yandex.com.tr/search", "", "", "", "Organic Search"),
    ("https://www.bing.co.uk/", "", "", "", "Organic Search"),
    ("https://search.brave.com/search?q=x", "", "", "", "Organic Search"),
    ("https://www.ecosia.org/search?q=x", "", "", "", "Organic Search"),
    ("https://m.baidu.com/s?wd=x", "", "", "", "Organic Search"),
    ("https://www.qwant.com/?q=x", "", "", "", "Organic Search"),
    ("https://uk.search.yahoo.com/", "", "", "", "Organic Search"),
    # social short links and mobile hosts
    ("https://l.facebook.com/l.php?u=x", "", "", "", "Organic Social"),
    ("https://m.facebook.com/", "", "", "", "Organic Social"),
    ("https://old.reddit.com/r/python", "", "", "", "Organic Social"),
    ("https://youtu.be/xyz", "", "", "", "Organic Video"),
    ("https://lnkd.in/abc", "", "", "", "Organic Social"),
    ("https://news.ycombinator.com/item?id=1", "", "", "", "Organic Social"),
    # webmail referrers are email, even on a search brand's domain
    ("https://mail.google.com/mail/u/0/", "", "", "", "Email"),
    ("https://outlook.live.com/mail/0/", "", "", "", "Email"),
    # click ids: gclid from Google and msclkid from Bing are paid search, others nothing
    ("https://www.google.com/", "", "", "gclid", "Paid Search"),
    ("", "", "", "msclkid", "Direct"),
    ("https://www.facebook.com/", "", "", "fbclid", "Organic Social"),
    ("", "newsletter", "email", "gclid", "Email"),
    # unknown medium falls back to the source
    ("", "google", "weird-medium", "", "Organic Search"),
    ("", "some-blog", "weird-medium", "", "Referral"),
    ("", "", "paid-social-q3", "", "Paid Other"),
    # self-referrals are not sources
    ("https://example.com/pricing", "", "", "", "Direct"),
    ("https://www.example.com/", "", "", "", "Direct"),
    ("https://shop.example.com/", "", "", "", "Referral"),
    # junk referrers are ignored
    ("javascript:alert(1)", "", "", "", "Direct"),
    ("https://", "", "", "", "Direct"),
    ("http://[::1", "", "", "", "Direct"),
    ("android-app://com.google.android.gm", "", "", "", "Email"),
    ("https://localhost/", "", "", "", "Direct"),
]


@pytest.mark.parametrize(("referrer", "utm_source", "utm_medium", "click", "channel"), CASES)
def test_channel(referrer: str, utm_source: str, utm_medium: str, click: str, channel: str) -> None:
    got = classify(referrer, utm_source, utm_medium, click, frozenset({"example.com"}))
    assert got.channel == channel


def test_enough_cases() -> None:
    assert len(CASES) >= 80


@pytest.mark.parametrize(
    ("referrer", "utm_source", "name"),
    [
        ("https://www.google.co.uk/search?q=a", "", "Google"),
        ("https://t.co/x", "", "Twitter"),
        ("https://x.com/a", "", "Twitter"),
        ("https://blog.example.org/post?id=7", "", "blog.example.org"),
        ("", "", DIRECT_NAME),
        ("https://www.facebook.com/", "newsletter-42", "newsletter-42"),
        ("", "GOOGLE", "Google"),
        ("", "ig", "Instagram"),
        ("https://chatgpt.com/", "", "ChatGPT"),
        ("android-app://com.google.android.gm", "", "Gmail"),
    ],
)
def test_source_name(referrer: str, utm_source: str, name: str) -> None:
    assert classify(referrer, utm_source).source == name


def test_referrer_keeps_host_and_path_but_never_the_query() -> None:
    got = classify("https://www.blog.example.org/a/b?email=someone%40example.com#frag")
    assert got.referrer == "blog.example.org/a/b"
    assert classify("https://www.google.com/search?q=secret").referrer == "google.com/search"
    assert classify("https://duckduckgo.com/").referrer == "duckduckgo.com"


def test_referrer_is_what_plausible_stores() -> None:
    """No scheme, no www., no trailing slash (Plausible's "strips trailing
    slash from referrer": https://facebook.com/page/ is facebook.com/page)."""
    assert classify("https://facebook.com/page/").referrer == "facebook.com/page"
    assert classify("https://www.example.org/a/b/").referrer == "example.org/a/b"
    assert classify("android-app://com.slack").referrer == "android-app://com.slack"


def test_utm_campaign_decides_cross_network_and_shopping() -> None:
    assert classify("", "google", "cpc", utm_campaign="x-cross-network").channel == "Cross-network"
    assert classify("", "", "cpc", utm_campaign="summer-shop").channel == "Paid Shopping"
    assert classify("", "", "", utm_campaign="workshop").channel == "Direct"
