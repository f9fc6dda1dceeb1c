"""Dashboard session cookies and token grants (pure)."""

from __future__ import annotations

from analyticsd.core import signin
from analyticsd.core.access import Grant, SignInLimiter, match, token_hash

KEY = b"k" * 32
TOKEN = "test-token-0123456789"
G = Grant(TOKEN, None)
OTHER = Grant("other-token-0123456789", frozenset({"a.example"}))


def epoch0(_: str) -> int:
    return 0


def test_a_cookie_stands_for_its_grant_until_it_expires() -> None:
    cookie = signin.issue(KEY, TOKEN, 0, now_s=1000)
    assert signin.valid(KEY, cookie, [G], epoch0, now_s=1000) == G
    assert signin.valid(KEY, cookie, [OTHER, G], epoch0, now_s=1000 + signin.LIFETIME_S) == G
    assert signin.valid(KEY, cookie, [G], epoch0, now_s=1001 + signin.LIFETIME_S) is None


def test_a_removed_token_ends_its_sessions() -> None:
    cookie = signin.issue(KEY, TOKEN, 0, now_s=1000)
    assert signin.valid(KEY, cookie, [OTHER], epoch0, now_s=1000) is None
    assert signin.valid(KEY, cookie, [], epoch0, now_s=1000) is None


def test_signing_out_moves_the_epoch_and_ends_every_session_of_the_token() -> None:
    epochs = {token_hash(TOKEN): 3}
    cookie = signin.issue(KEY, TOKEN, 3, now_s=1000)
    assert signin.valid(KEY, cookie, [G], lambda h: epochs.get(h, 0), now_s=1000) == G
    epochs[token_hash(TOKEN)] = 4
    assert signin.valid(KEY, cookie, [G], lambda h: epochs.get(h, 0), now_s=1000) is None


def test_forged_or_altered_cookies_are_refused() -> None:
    cookie = signin.issue(KEY, TOKEN, 0, now_s=1000)
    expiry, epoch, sig = cookie.split(".")
    assert signin.valid(b"x" * 32, cookie, [G], epoch0, now_s=1000) is None  # another key
    longer = f"{int(expiry) + 99999}.{epoch}.{sig}"
    assert signin.valid(KEY, longer, [G], epoch0, now_s=1000) is None
    assert signin.valid(KEY, f"{expiry}.7.{sig}", [G], lambda _: 7, now_s=1000) is None
    for bad in (
        "",
        ".",
        "..",
        "abc.0.def",
        f"{expiry}.{sig}",
        f"{expiry}.x.{sig}",
        "1.0." + "0" * 64,
    ):
        assert signin.valid(KEY, bad, [G], epoch0, now_s=1000) is None, bad


def test_tokens_match_their_grant_only() -> None:
    assert match(TOKEN, [OTHER, G]) == G
    assert match(TOKEN[:-1], [G]) is None
    assert match(TOKEN, []) is None
    assert OTHER.may_read("a.example")
    assert not OTHER.may_read("b.example")
    assert G.may_read("anything.example")


def test_failed_sign_ins_are_limited_per_address_and_refill() -> None:
    lim = SignInLimiter(burst=3, refill_s=10.0)
    for _ in range(3):
        assert lim.retry_after("10.0.0.1", 0.0) == 0
        lim.failed("10.0.0.1", 0.0)
    assert lim.retry_after("10.0.0.1", 0.0) == 10
    assert lim.retry_after("10.0.0.2", 0.0) == 0  # another address is not held up
    assert lim.retry_after("10.0.0.1", 4.0) == 6
    assert lim.retry_after("10.0.0.1", 10.0) == 0  # one attempt back after one refill
    lim.failed("10.0.0.1", 10.0)
    assert lim.retry_after("10.0.0.1", 10.0) == 10


def test_the_address_table_is_bounded() -> None:
    lim = SignInLimiter(burst=1, refill_s=60.0, max_addresses=100)
    for i in range(1000):
        lim.failed(f"10.0.{i >> 8}.{i & 255}", 0.0)
    assert len(lim) == 100
