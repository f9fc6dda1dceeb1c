"""check-config's list of every problem, and the data dir read from a broken file."""

from __future__ import annotations

import pytest

from analyticsd.core import config
from analyticsd.core.config_check import problems, salvage_data_dir
from analyticsd.core.errors import ConfigError

SITE = '[[sites]]\nid = "a.example"\n'


@pytest.mark.parametrize(
    "text",
    [
        '[server]\nmax_body_bytes = "big"\n' + SITE,
        "[aggregator2]\nx = 1\n" + SITE,
        '[[sites]]\nid = "a"\ntimezone = "Mars/X"\n',
        '[api]\ntokens = ["short"]\n' + SITE,
        "x = \n",
        "[[sites]]\norigins = []\n",
        '[server]\nadmin_listen = "nonsense"\n' + SITE,
    ],
)
def test_a_single_problem_reads_as_loading_words_it(text: str) -> None:
    with pytest.raises(ConfigError) as e:
        config.parse_toml(text)
    assert problems(text) == [str(e.value)]


def test_every_problem_at_once_with_file_indexes() -> None:
    text = (
        '[server]\nlisten = "127.0.0.1:99999"\nbogus = 1\n'
        "[storage]\nspool_max_bytes = 10\n"
        '[[sites]]\norigins = ["ftp://x"]\n'  # dropped: no id
        '[[sites]]\nid = "b"\ntimezone = "Mars/X"\n'
    )
    assert problems(text) == [
        "server.bogus: unknown key",
        "storage.spool_max_bytes: must be at least 4096, got 10",
        "sites[0].origins[0]: must be '*' or scheme://host[:port], got 'ftp://x'",
        "sites[0]: Object missing required field `id`",
        "server.listen: port 99999 out of range",
        # The second site of the file, though the first was left out to check it.
        "sites[1].timezone: unknown IANA timezone 'Mars/X'",
    ]


def test_a_valid_file_has_no_problems() -> None:
    with open("config/analyticsd.toml", encoding="utf-8") as f:
        assert problems(f.read()) == []


def test_tokens_are_never_shown() -> None:
    secret = "s3cr3t with space but long enough"
    (line,) = problems(f'[api]\ntokens = ["{secret}"]\n' + SITE)
    assert secret not in line
    assert line.startswith("api.tokens[0]: each token must be")


@pytest.mark.parametrize(
    ("text", "data_dir"),
    [
        ('[storage]\ndata_dir = "/v/a"\n[server]\nlisten = 3\n', "/v/a"),
        ("[storage]\ndata_dir = '/v/b'\n[server\n", "/v/b"),
        ('[server]\ndata_dir = "/not/this"\n[storage]\nx = 1\n[server\n', None),
        ("[server]\nlisten = 3\n", "var"),
        ("[storage]\ndata_dir = 3\n", None),
    ],
)
def test_salvage_data_dir(text: str, data_dir: str | None) -> None:
    assert salvage_data_dir(text) == data_dir


def test_each_site_and_token_gets_its_own_line() -> None:
    text = (
        '[api]\ntokens = ["short1", "0123456789abcdef0123", "short2"]\n'
        '[[sites]]\nid = "a"\ntimezone = "Mars/X"\n'
        '[[sites]]\nid = "b"\ntimezone = "Venus/Y"\n'
    )
    lines = problems(text)
    assert [line.partition(":")[0] for line in lines] == [
        "sites[0].timezone",
        "api.tokens[0]",
        "sites[1].timezone",
        "api.tokens[2]",
    ]
