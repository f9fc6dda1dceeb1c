"""Daily salts agreed through a real redis-server, and adopted by the salt book."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from analyticsd.core.errors import SaltAgreementError
from analyticsd.core.visitor import DAY_MS, SALT_BYTES, salt_day, visitor_id
from analyticsd.storage.salts import SaltBook
from analyticsd.storage.shared_salts import SaltAgreement
from tests.helpers import free_port
from tests.redis_server import redis_server


def test_the_first_proposal_wins_and_expires_48h_after_its_day_began(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as rs:
        a = SaltAgreement(rs.url, "t:salt", 2)
        b = SaltAgreement(rs.url, "t:salt", 2)
        today = salt_day(int(time.time() * 1000))
        mine, theirs = secrets.token_bytes(SALT_BYTES), secrets.token_bytes(SALT_BYTES)
        assert a.agree(today, mine) == mine
        assert b.agree(today, theirs) == mine  # adopted, not overwritten
        expires_at = rs.client().expiretime(f"t:salt:{today}")
        assert expires_at == (today + 2) * DAY_MS // 1000
        # The same person, site and day: one visitor id on both edges.
        ip, ua = "198.51.100.7", "Mozilla/5.0"
        assert visitor_id(a.agree(today, theirs), "s", ip, ua) == visitor_id(mine, "s", ip, ua)
        assert b.agree(today + 1, theirs) == theirs  # each day its own salt


def test_unreachable_redis_is_our_error() -> None:
    agreement = SaltAgreement(f"redis://127.0.0.1:{free_port()}/0", "t:salt", 0.5)
    with pytest.raises(SaltAgreementError, match="cannot agree on the salt of day 5"):
        agreement.agree(5, secrets.token_bytes(SALT_BYTES))


def test_the_book_adopts_only_days_whose_salt_may_exist(tmp_path: Path) -> None:
    book = SaltBook(str(tmp_path))
    book.rotate(100)
    agreed = secrets.token_bytes(SALT_BYTES)
    assert book.adopt(100, agreed, today=100)
    assert SaltBook(str(tmp_path)).get(100) == agreed  # persisted
    assert not book.adopt(97, agreed, today=100)  # destroyed days stay destroyed
    assert book.get(97) is None
