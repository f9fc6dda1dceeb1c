"""Traffic source classification: every case of the reference attribution tests, plus more."""

from __future__ import annotations

import pytest

from analyticsd.core.source import DIRECT_NAME, classify

# (referrer, utm_source, utm_medium, click_id, expected channel)
CASES = [
    # reference: no data, UTM medium
    ("", "", "", "", "direct"),
    ("", "google", "cpc", "", "paid"),
    ("", "google", "ppc", "", "paid"),
    ("", "google", "paid", "", "paid"),
    ("", "google", "paidsearch", "", "paid"),
    ("", "mailchimp", "email", "", "email"),
    ("", "campaign-monitor", "newsletter", "", "email"),
    ("", "facebook", "social", "", "social"),
    ("", "twitter", "social-media", "", "social"),
    ("", "partner123", "affiliate", "", "affiliate"),
    ("", "partner456", "partner", "", "affiliate"),
    ("", "google", "organic", "", "organic"),
    ("", "blog.example.com", "referral", "", "referral"),
    # reference: UTM source only
    ("", "facebook", "", "", "social"),
    ("", "twitter", "", "", "social"),
    ("", "instagram", "", "", "social"),
    ("", "linkedin", "", "", "social"),
    ("", "google", "", "", "organic"),
    ("", "blog.example.com", "", "", "referral"),
    # reference: referrer analysis
    ("https://www.facebook.com/some-post", "", "", "", "social"),
    ("https://t.co/abc123", "", "", "", "social"),
    ("https://x.com/user/status/123", "", "", "", "social"),
    ("https://www.instagram.com/p/abc123/", "", "", "", "social"),
    ("https://www.linkedin.com/feed/", "", "", "", "social"),
    ("https://www.reddit.com/r/programming/", "", "", "", "social"),
    ("https://www.youtube.com/watch?v=abc123", "", "", "", "social"),
    ("https://www.tiktok.com/@user/video/123", "", "", "", "social"),
    ("https://www.google.com/search?q=test", "", "", "", "organic"),
    ("https://www.bing.com/search?q=test", "", "", "", "organic"),
    ("https://duckduckgo.com/?q=test", "", "", "", "organic"),
    ("https://search.yahoo.com/search?p=test", "", "", "", "organic"),
    ("https://blog.example.com/article", "", "", "", "referral"),
    ("https://facebook.com/page", "", "", "", "social"),
    ("not-a-valid-url", "", "", "", "direct"),
    # reference: priority
    ("https://www.facebook.com/", "newsletter", "email", "", "email"),
    ("https://www.google.com/search", "", "", "", "organic"),
    # reference: edge cases
    ("", "", "", "", "direct"),
    ("", "", "CPC", "", "paid"),
    ("", "", "Cpc", "", "paid"),
    ("", "", "cpc", "", "paid"),
    ("", "FACEBOOK", "", "", "social"),
    ("", "Facebook", "", "", "social"),
    ("https://subdomain.facebook.com/page", "", "", "", "social"),
    ("https://www.google.co.uk/search", "", "", "", "organic"),
    ("https://www.google.de/search", "", "", "", "organic"),
    ("https://yandex.ru/search", "", "", "", "organic"),
    # reference: complex scenarios
    ("", "facebook", "cpc", "", "paid"),
    ("https://twitter.com/user/status/123", "", "", "", "social"),
    ("", "mailchimp", "email", "", "email"),
    ("", "partner-site", "affiliate", "", "affiliate"),
    ("", "google", "cpc", "", "paid"),
    # country search domains and subdomains
    ("https://www.google.com.au/", "", "", "", "organic"),
    ("https://www.google.co.jp/search?q=x", "", "", "", "organic"),
    ("https://www.google.com.br/", "", "", "", "organic"),
    ("https://news.google.fr/", "", "", "", "organic"),
    ("https://yandex.com.tr/search", "", "", "", "organic"),
    ("https://www.bing.co.uk/", "", "", "", "organic"),
    ("https://search.brave.com/search?q=x", "", "", "", "organic"),
    ("https://www.ecosia.org/search?q=x", "", "", "", "organic"),
    ("https://m.baidu.com/s?wd=x", "", "", "", "organic"),
    ("https://www.qwant.com/?q=x", "", "", "", "organic"),
    ("https://uk.search.yahoo.com/", "", "", "", "organic"),
    # social short links and mobile hosts
    ("https://l.facebook.com/l.php?u=x", "", "", "", "social"),
    ("https://m.facebook.com/", "", "", "", "social"),
    ("https://old.reddit.com/r/python", "", "", "", "social"),
    ("https://youtu.be/xyz", "", "", "", "social"),
    ("https://lnkd.in/abc", "", "", "", "social"),
    ("https://news.ycombinator.com/item?id=1", "", "", "", "social"),
    # webmail referrers are email, even on a search brand's domain
    ("https://mail.google.com/mail/u/0/", "", "", "", "email"),
    ("https://outlook.live.com/mail/0/", "", "", "", "email"),
    # click ids mark paid; they do not beat an explicit medium
    ("https://www.google.com/", "", "", "gclid", "paid"),
    ("", "", "", "msclkid", "paid"),
    ("https://www.facebook.com/", "", "", "fbclid", "paid"),
    ("", "newsletter", "email", "gclid", "email"),
    # unknown medium falls back to the source
    ("", "google", "weird-medium", "", "organic"),
    ("", "some-blog", "weird-medium", "", "referral"),
    ("", "", "paid-social-q3", "", "paid"),
    # self-referrals are not sources
    ("https://example.com/pricing", "", "", "", "direct"),
    ("https://www.example.com/", "", "", "", "direct"),
    ("https://shop.example.com/", "", "", "", "referral"),
    # junk referrers are ignored
    ("javascript:alert(1)", "", "", "", "direct"),
    ("https://", "", "", "", "direct"),
    ("http://[::1", "", "", "", "direct"),
    ("android-app://com.google.android.gm", "", "", "", "direct"),
    ("https://localhost/", "", "", "", "direct"),
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
    ],
)
def test_source_name(referrer: str, utm_source: str, name: str) -> None:
    assert classify(referrer, utm_source).source == name


def test_referrer_keeps_host_and_path_but_never_the_query() -> None:
    got = classify("https://www.blog.example.org/a/b?email=someone%40example.com#frag")
    assert got.referrer == "blog.example.org/a/b"
    assert classify("https://www.google.com/search?q=secret").referrer == "google.com/search"
    assert classify("https://duckduckgo.com/").referrer == "duckduckgo.com"
