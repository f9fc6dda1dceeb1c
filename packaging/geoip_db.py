#!/usr/bin/env python3
"""The bundled country database: fetched from the npm registry by the install
and packaging steps (never by the daemon), pinned by version and checksum.

  fetch   install the version analyticsd/geodata/bundled.toml pins as
          analyticsd/geodata/country.mmdb (and its licence as
          country-LICENSE.txt); the tarball is kept in a cache, so a second
          checkout or a `make clean` does not download it again. Both the
          tarball and the database are checked against the pinned sha256;
          nothing that fails a check is installed or cached.
  update  ask the registry for the package's latest version; if it is newer,
          download it (checked against the registry's own sha512 integrity),
          rewrite bundled.toml with its version and checksums, then fetch.

Only the standard library (it runs before the venv exists). The registry is
$NPM_REGISTRY (default https://registry.npmjs.org); the cache is
$ANALYTICSD_GEOIP_CACHE (default ~/.cache/analyticsd/geoip).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
import tomllib
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GEODATA = ROOT / "analyticsd" / "geodata"
DB_NAME = "country.mmdb"
LICENSE_NAME = "country-LICENSE.txt"
TIMEOUT_S = 120

MANIFEST_TEMPLATE = """\
{header}package = {package}
version = {version}
tarball_sha256 = {tarball_sha256}
member = {member}
mmdb_sha256 = {mmdb_sha256}
license = {license}
attribution = {attribution}
license_files = [{license_files}]
"""


FIELDS = ("package", "version", "tarball_sha256", "member", "mmdb_sha256", "license", "attribution")


class FetchError(Exception):
    pass


def _q(s: str) -> str:
    return json.dumps(s)  # a TOML basic string for the characters we write


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_manifest(path: Path) -> dict[str, object]:
    with open(path, "rb") as f:
        m = tomllib.load(f)
    for key in FIELDS:
        if not isinstance(m.get(key), str) or not m[key]:
            raise FetchError(f"{path}: {key} is missing")
    return m


def write_manifest(path: Path, m: dict[str, object]) -> None:
    text = path.read_text()
    # The comment block at the top is kept as it is.
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    files = m.get("license_files") or []
    assert isinstance(files, list)
    body = MANIFEST_TEMPLATE.format(
        header=header,
        license_files=", ".join(_q(str(f)) for f in files),
        **{k: _q(str(m[k])) for k in FIELDS},
    )
    _atomic_write(path, body.encode())


def _atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """A new file renamed over the old: a running daemon keeps reading the old
    one until it reopens (at a reload), never a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _get(url: str, accept: str = "*/*") -> bytes:
    req = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": "analyticsd"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            data: bytes = resp.read()
            return data
    except OSError as e:  # URLError, HTTPError and timeouts are all OSErrors
        raise FetchError(f"cannot fetch {url}: {e}") from e


def tarball_url(registry: str, package: str, version: str) -> str:
    # npm's layout: <registry>/@scope/name/-/name-<version>.tgz
    base = package.rsplit("/", 1)[-1]
    return f"{registry.rstrip('/')}/{package}/-/{base}-{version}.tgz"


def _cache_file(cache: Path, package: str, version: str) -> Path:
    return cache / f"{package.strip('@').replace('/', '-')}-{version}.tgz"


def unpack(
    tgz: bytes, member: str, license_files: list[str]
) -> tuple[bytes, bytes, dict[str, str]]:
    """(the database, the licence texts, package.json's fields) from an npm tarball."""
    try:
        with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:

            def read(name: str) -> bytes:
                try:
                    f = tar.extractfile(f"package/{name}")
                except KeyError:
                    f = None
                if f is None:
                    raise FetchError(f"the tarball has no package/{name}")
                return f.read()

            db = read(member)
            licences = b"".join(read(name) for name in license_files)
            meta = json.loads(read("package.json"))
    except (tarfile.TarError, OSError, ValueError) as e:
        raise FetchError(f"not a readable npm tarball: {e}") from e
    return db, licences, meta


def licence_text(m: dict[str, object], licences: bytes) -> bytes:
    head = (
        f"The country database in this directory (country.mmdb) is {m['package']}\n"
        f"version {m['version']} from the npm registry "
        "(https://github.com/sapics/ip-location-db),\n"
        f"redistributed unchanged under {m['license']}; attribution: {m['attribution']}.\n"
        "Its licence, as the package ships it:\n\n"
    )
    return head.encode() + licences.rstrip(b"\n") + b"\n"


def fetch(manifest: Path, dest: Path, cache: Path, registry: str, quiet: bool) -> None:
    m = load_manifest(manifest)
    db_path, lic_path = dest / DB_NAME, dest / LICENSE_NAME
    if db_path.exists() and lic_path.exists() and sha256(db_path.read_bytes()) == m["mmdb_sha256"]:
        if not quiet:
            print(f"{db_path}: {m['package']} {m['version']}, up to date")
        return
    package, version = str(m["package"]), str(m["version"])
    cached = _cache_file(cache, package, version)
    tgz = cached.read_bytes() if cached.exists() else b""
    if sha256(tgz) != m["tarball_sha256"]:
        url = tarball_url(registry, package, version)
        print(f"fetching {url}", file=sys.stderr)
        tgz = _get(url)
        got = sha256(tgz)
        if got != m["tarball_sha256"]:
            raise FetchError(
                f"{url}: sha256 {got} is not the pinned {m['tarball_sha256']} "
                f"({manifest}); nothing was installed"
            )
        try:
            _atomic_write(cached, tgz)
        except OSError as e:  # a read-only home: fine, just not cached
            print(f"not cached ({e})", file=sys.stderr)
    files = [str(f) for f in m.get("license_files") or []]
    db, licences, _ = unpack(tgz, str(m["member"]), files)
    if sha256(db) != m["mmdb_sha256"]:
        raise FetchError(
            f"package/{m['member']} in {package} {version}: sha256 {sha256(db)} "
            f"is not the pinned {m['mmdb_sha256']}; nothing was installed"
        )
    _atomic_write(lic_path, licence_text(m, licences))
    _atomic_write(db_path, db)
    print(f"installed {db_path}: {package} {version} ({m['license']})", file=sys.stderr)


def update(manifest: Path, dest: Path, cache: Path, registry: str) -> None:
    m = load_manifest(manifest)
    package = str(m["package"])
    url = f"{registry.rstrip('/')}/{urllib.parse.quote(package, safe='@')}"
    doc = json.loads(_get(url, accept="application/vnd.npm.install-v1+json"))
    latest = (doc.get("dist-tags") or {}).get("latest")
    info = (doc.get("versions") or {}).get(latest)
    if not isinstance(latest, str) or not isinstance(info, dict):
        raise FetchError(f"{url}: no latest version in the registry's answer")
    if latest == m["version"]:
        print(f"{package} {latest} is the registry's latest: nothing to update")
        fetch(manifest, dest, cache, registry, quiet=True)
        return
    dist = info.get("dist") or {}
    tgz = _get(dist.get("tarball") or tarball_url(registry, package, latest))
    integrity = str(dist.get("integrity", ""))
    if not integrity.startswith("sha512-"):
        raise FetchError(f"{package} {latest}: the registry gives no sha512 integrity")
    if base64.b64encode(hashlib.sha512(tgz).digest()).decode() != integrity[len("sha512-") :]:
        raise FetchError(f"{package} {latest}: the tarball does not match the registry's sha512")
    files = [str(f) for f in m.get("license_files") or []]
    old_licences = (dest / LICENSE_NAME).read_bytes() if (dest / LICENSE_NAME).exists() else b""
    db, licences, meta = unpack(tgz, str(m["member"]), files)
    new = {**m, "version": latest, "tarball_sha256": sha256(tgz), "mmdb_sha256": sha256(db)}
    try:
        _atomic_write(_cache_file(cache, package, latest), tgz)
    except OSError as e:  # fetch below downloads it again
        print(f"not cached ({e})", file=sys.stderr)
    write_manifest(manifest, new)
    print(f"{manifest.name}: {package} {m['version']} -> {latest}")
    fetch(manifest, dest, cache, registry, quiet=True)
    if not old_licences.endswith(licences.rstrip(b"\n") + b"\n"):
        print(
            f"NOTE: the licence files ({', '.join(files)}) differ from the ones installed "
            f"before: review {dest / LICENSE_NAME} (and the README's licence note) "
            "before committing",
            file=sys.stderr,
        )
    print(f"package.json of {latest} says license {meta.get('license')!r}", file=sys.stderr)
    shown = manifest.relative_to(ROOT) if manifest.is_relative_to(ROOT) else manifest
    print(
        f"commit {shown}; a running daemon uses the new file after its next reload "
        "(`systemctl reload analyticsd`, SIGHUP)"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="packaging/geoip_db.py", description=__doc__.split("\n")[0])
    p.add_argument("command", choices=["fetch", "update"])
    p.add_argument("--manifest", type=Path, default=GEODATA / "bundled.toml")
    p.add_argument("--dest", type=Path, default=GEODATA)
    default_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "analyticsd"
    p.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("ANALYTICSD_GEOIP_CACHE") or default_cache / "geoip"),
    )
    p.add_argument(
        "--registry", default=os.environ.get("NPM_REGISTRY") or "https://registry.npmjs.org"
    )
    p.add_argument("--quiet", action="store_true", help="fetch: say nothing when up to date")
    args = p.parse_args(argv)
    try:
        if args.command == "fetch":
            fetch(args.manifest, args.dest, args.cache, args.registry, args.quiet)
        else:
            update(args.manifest, args.dest, args.cache, args.registry)
    except (FetchError, OSError) as e:
        print(f"geoip_db: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
