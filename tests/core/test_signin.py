"""Dashboard session cookies (pure)."""

from __future__ import annotations

from analyticsd.core import signin

KEY = b"k" * 32
TOKEN = "token-0123456789abcdef"


def test_a_session_is_valid_until_it_expires() -> None:
    cookie = signin.issue(KEY, TOKEN, now_s=1000)
    assert signin.valid(KEY, cookie, [TOKEN], now_s=1000)
    assert signin.valid(
        KEY, cookie, ["other-token-0123456789", TOKEN], now_s=1000 + signin.LIFETIME_S
    )
    assert not signin.valid(KEY, cookie, [TOKEN], now_s=1001 + signin.LIFETIME_S)


def test_removing_the_token_ends_its_sessions() -> None:
    cookie = signin.issue(KEY, TOKEN, now_s=1000)
    assert not signin.valid(KEY, cookie, ["other-token-0123456789"], now_s=1000)
    assert not signin.valid(KEY, cookie, [], now_s=1000)


def test_forged_or_garbled_cookies_are_refused() -> None:
    cookie = signin.issue(KEY, TOKEN, now_s=1000)
    expiry, _, sig = cookie.partition(".")
    assert not signin.valid(b"x" * 32, cookie, [TOKEN], now_s=1000)  # another key
    assert not signin.valid(KEY, f"{int(expiry) + 99999}.{sig}", [TOKEN], now_s=1000)  # longer life
    for bad in ("", ".", "abc.def", f"{expiry}.", f"{expiry}.{sig[:-1]}", "1e9." + sig):
        assert not signin.valid(KEY, bad, [TOKEN], now_s=1000), bad
    assert TOKEN not in cookie


def test_token_check_compares_every_token() -> None:
    assert signin.token_ok(TOKEN, ["a-token-0123456789ab", TOKEN])
    assert not signin.token_ok(TOKEN[:-1], [TOKEN])
    assert not signin.token_ok(TOKEN, [])
