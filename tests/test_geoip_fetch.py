"""packaging/geoip_db.py against a registry of the test's own on loopback:
the pinned checksums are enforced, the cache spares a second download, and
`update` moves the pin only to a tarball matching the registry's integrity."""

from __future__ import annotations

import base64
import hashlib
import http.server
import importlib.util
import io
import json
import tarfile
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.geo_fixture import build_country_code_db

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("geoip_db", ROOT / "packaging" / "geoip_db.py")
assert _spec is not None
assert _spec.loader is not None
geoip_db = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(geoip_db)

PACKAGE = "@ip-location-db/geo-whois-asn-country-mmdb"
MEMBER = "geo-whois-asn-country.mmdb"
LICENCE = b"The statistics data provided by NRO is licensed under CC BY 4.0.\n"
HEADER = "# The country database (a comment that an update keeps).\n"


def tarball(db: bytes, version: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        meta = json.dumps({"name": PACKAGE, "version": version, "license": "CC0-1.0"})
        for name, data in ((MEMBER, db), ("NRO_LICENSE", LICENCE), ("package.json", meta.encode())):
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class Registry:
    url: str = ""
    tarballs: dict[str, bytes] = field(default_factory=dict)
    latest: str = ""
    integrity_of: dict[str, str] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def add(self, version: str, countries: dict[str, str], tmp: Path) -> tuple[bytes, bytes]:
        db = build_country_code_db(tmp / f"{version}.mmdb", countries).read_bytes()
        tgz = tarball(db, version)
        self.tarballs[version] = tgz
        digest = base64.b64encode(hashlib.sha512(tgz).digest()).decode()
        self.integrity_of[version] = f"sha512-{digest}"
        return db, tgz

    def document(self) -> dict[str, Any]:
        base = PACKAGE.rsplit("/", 1)[1]
        return {
            "name": PACKAGE,
            "dist-tags": {"latest": self.latest},
            "versions": {
                v: {
                    "version": v,
                    "dist": {
                        "tarball": f"{self.url}/{PACKAGE}/-/{base}-{v}.tgz",
                        "integrity": self.integrity_of[v],
                    },
                }
                for v in self.tarballs
            },
        }


@pytest.fixture
def registry() -> Iterator[Registry]:
    reg = Registry()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urllib.parse.unquote(self.path)
            reg.requests.append(path)
            body: bytes | None = None
            if path == f"/{PACKAGE}":
                body = json.dumps(reg.document()).encode()
            for v, tgz in reg.tarballs.items():
                if path.endswith(f"-{v}.tgz"):
                    body = tgz
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"not found")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    reg.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield reg
    finally:
        server.shutdown()
        server.server_close()


def manifest(path: Path, version: str, tgz: bytes, db: bytes) -> Path:
    path.write_text(
        HEADER
        + f'package = "{PACKAGE}"\nversion = "{version}"\n'
        + f'tarball_sha256 = "{hashlib.sha256(tgz).hexdigest()}"\nmember = "{MEMBER}"\n'
        + f'mmdb_sha256 = "{hashlib.sha256(db).hexdigest()}"\nlicense = "CC-BY-4.0"\n'
        + 'attribution = "Number Resource Organization (NRO)"\nlicense_files = ["NRO_LICENSE"]\n'
    )
    return path


def run(cmd: str, tmp: Path, reg: Registry) -> int:
    rc: int = geoip_db.main([
        cmd, "--manifest", str(tmp / "bundled.toml"), "--dest", str(tmp / "dest"),
        "--cache", str(tmp / "cache"), "--registry", reg.url,
    ])  # fmt: skip
    return rc


def test_fetch_checks_the_pin_and_caches(tmp_path: Path, registry: Registry) -> None:
    db, tgz = registry.add("1.0.1", {"192.0.2.0/24": "NL"}, tmp_path)
    manifest(tmp_path / "bundled.toml", "1.0.1", tgz, db)
    assert run("fetch", tmp_path, registry) == 0
    assert (tmp_path / "dest" / "country.mmdb").read_bytes() == db
    licence = (tmp_path / "dest" / "country-LICENSE.txt").read_bytes()
    assert licence.endswith(LICENCE)
    assert b"version 1.0.1" in licence
    assert len(registry.requests) == 1
    assert run("fetch", tmp_path, registry) == 0  # up to date: nothing asked
    (tmp_path / "dest" / "country.mmdb").write_bytes(b"damaged")
    assert run("fetch", tmp_path, registry) == 0  # put back from the cache
    assert (tmp_path / "dest" / "country.mmdb").read_bytes() == db
    assert len(registry.requests) == 1


def test_a_tarball_off_the_pin_is_not_installed(
    tmp_path: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    db, _ = registry.add("1.0.1", {"192.0.2.0/24": "NL"}, tmp_path)
    manifest(tmp_path / "bundled.toml", "1.0.1", b"another tarball", db)
    assert run("fetch", tmp_path, registry) == 1
    assert "is not the pinned" in capsys.readouterr().err
    assert not (tmp_path / "dest" / "country.mmdb").exists()
    assert not list((tmp_path / "cache").glob("*.tgz"))  # nor cached


def test_update_moves_the_pin_to_the_latest_version(tmp_path: Path, registry: Registry) -> None:
    old_db, old_tgz = registry.add("1.0.1", {"192.0.2.0/24": "NL"}, tmp_path)
    new_db, new_tgz = registry.add("1.0.2", {"192.0.2.0/24": "BE"}, tmp_path)
    pin = manifest(tmp_path / "bundled.toml", "1.0.1", old_tgz, old_db)
    assert run("fetch", tmp_path, registry) == 0
    registry.latest = "1.0.1"
    assert run("update", tmp_path, registry) == 0  # already the latest
    assert geoip_db.load_manifest(pin)["version"] == "1.0.1"

    registry.latest = "1.0.2"
    assert run("update", tmp_path, registry) == 0
    m = geoip_db.load_manifest(pin)
    assert (m["version"], m["tarball_sha256"], m["mmdb_sha256"]) == (
        "1.0.2", hashlib.sha256(new_tgz).hexdigest(), hashlib.sha256(new_db).hexdigest(),
    )  # fmt: skip
    assert pin.read_text().startswith(HEADER)
    assert m["license_files"] == ["NRO_LICENSE"]
    assert (tmp_path / "dest" / "country.mmdb").read_bytes() == new_db


def test_update_refuses_a_tarball_that_fails_the_registry_integrity(
    tmp_path: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    old_db, old_tgz = registry.add("1.0.1", {"192.0.2.0/24": "NL"}, tmp_path)
    registry.add("1.0.2", {"192.0.2.0/24": "BE"}, tmp_path)
    registry.integrity_of["1.0.2"] = registry.integrity_of["1.0.1"]
    registry.latest = "1.0.2"
    pin = manifest(tmp_path / "bundled.toml", "1.0.1", old_tgz, old_db)
    before = pin.read_text()
    assert run("update", tmp_path, registry) == 1
    assert "does not match the registry's sha512" in capsys.readouterr().err
    assert pin.read_text() == before


def test_the_repository_pin_is_the_installed_file() -> None:
    """What `make install` fetched is what bundled.toml pins (CI's fresh clone
    fetches it before the tests)."""
    m = geoip_db.load_manifest(geoip_db.GEODATA / "bundled.toml")
    installed = geoip_db.GEODATA / geoip_db.DB_NAME
    assert hashlib.sha256(installed.read_bytes()).hexdigest() == m["mmdb_sha256"]
    assert m["package"] == PACKAGE
    assert m["license"] == "CC-BY-4.0"
