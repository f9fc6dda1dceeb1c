#!/usr/bin/env bash
# Builds dist/analyticsd_<version>_<arch>.deb from this checkout: a venv under
# /opt/analyticsd made with Debian's own python3 (so the compiled wheels match
# it), the unit, the example configuration as /etc/analyticsd/analyticsd.toml
# (a conffile: never overwritten once edited), and the maintainer scripts in
# packaging/debian/ (system user, permissions, data dir, start and restart).
#
# A plain dpkg-deb build rather than dh-virtualenv (which Debian 12 has): the
# result is the same venv-in-a-package, without a debian/ source tree,
# debhelper and a build-essential toolchain on every machine that builds it.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=/usr/bin/python3            # the interpreter the package depends on
PREFIX=/opt/analyticsd
VERSION=$($PYTHON -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
ARCH=$(dpkg --print-architecture)
PYVER=$($PYTHON -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
NEXT=$($PYTHON -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1] + 1}")')
OUT=dist/analyticsd_${VERSION}_${ARCH}.deb
STAGE=build/deb/root

rm -rf build/deb build/wheel-venv dist/analyticsd-*.whl
mkdir -p "$STAGE" dist
# The bundled country database, which the wheel carries: the pinned version,
# checksum-checked (from the cache, or the npm registry the first time).
$PYTHON packaging/geoip_db.py fetch --quiet
# The wheel first (it carries the example config and the unit as package
# data), with the development venv's pip if there is one, else a throwaway one.
PIP=${PIP:-.venv/bin/pip}
if [ ! -x "$PIP" ]; then
  $PYTHON -m venv build/wheel-venv
  PIP=build/wheel-venv/bin/pip
fi
"$PIP" wheel -q --no-deps -w dist .
$PYTHON -m venv "$STAGE$PREFIX"
"$STAGE$PREFIX/bin/pip" install -q --no-compile --disable-pip-version-check dist/analyticsd-"$VERSION"-*.whl

# The venv was made at the staging path: make it the installed one.
for f in "$STAGE$PREFIX"/bin/*; do
  [ -L "$f" ] || [ ! -f "$f" ] && continue
  sed -i "1s|^#!$PWD/$STAGE$PREFIX/|#!$PREFIX/|" "$f"
  sed -i "s|$PWD/$STAGE$PREFIX|$PREFIX|g" "$f"
done
sed -i "s|$PWD/$STAGE$PREFIX|$PREFIX|g" "$STAGE$PREFIX/pyvenv.cfg"
find "$STAGE$PREFIX" -name __pycache__ -prune -exec rm -rf {} +
GEODATA="$STAGE$PREFIX/lib/python$PYVER/site-packages/analyticsd/geodata"
[ -s "$GEODATA/country.mmdb" ] && [ -s "$GEODATA/country-LICENSE.txt" ] || {
  echo "build-deb: the wheel lacks the bundled country database ($GEODATA)" >&2; exit 1; }
find "$STAGE$PREFIX" -name direct_url.json -delete
# Byte code compiled now, naming the installed paths: the service cannot
# write under /opt (ProtectSystem=strict).
$PYTHON -m compileall -q -j0 -s "$PWD/$STAGE" -p / "$PWD/$STAGE$PREFIX/lib" >/dev/null

install -D -m 0644 systemd/analyticsd.service "$STAGE/lib/systemd/system/analyticsd.service"
install -D -m 0640 config/analyticsd.toml "$STAGE/etc/analyticsd/analyticsd.toml"
install -d -m 0755 "$STAGE/usr/bin" "$STAGE/usr/share/doc/analyticsd"
ln -s "$PREFIX/bin/analyticsd" "$STAGE/usr/bin/analyticsd"
install -m 0644 README.md "$STAGE/usr/share/doc/analyticsd/README.md"
install -m 0644 config/Caddyfile config/nginx.conf "$STAGE/usr/share/doc/analyticsd/"
GEO_PACKAGE=$($PYTHON -c 'import tomllib; m = tomllib.load(open("analyticsd/geodata/bundled.toml", "rb")); print(m["package"], m["version"])')
cat > "$STAGE/usr/share/doc/analyticsd/copyright" <<COPY
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: analyticsd
License: MIT (the venv under $PREFIX holds its dependencies under their own licenses)

Files: ${GEODATA#"$STAGE"}/country.mmdb
Source: the npm package $GEO_PACKAGE,
 https://github.com/sapics/ip-location-db (geo-whois-asn-country), unchanged
Copyright: Number Resource Organization (NRO), https://www.nro.net, for the
 data of the five regional internet registries it is built from
License: CC-BY-4.0
Comment: The bundled IP-to-country database, used when [geoip] database is
 empty. The package.json says CC0-1.0; its README and the NRO_LICENSE it ships
 say CC BY 4.0 for the data, with attribution to nro.net, which is what this
 package follows. The licence as the package ships it
 (${GEODATA#"$STAGE"}/country-LICENSE.txt):
$(sed -e 's/^$/./' -e 's/^/ /' "$GEODATA/country-LICENSE.txt")

License: CC-BY-4.0
 Creative Commons Attribution 4.0 International,
 https://creativecommons.org/licenses/by/4.0/legalcode
COPY

install -d -m 0755 "$STAGE/DEBIAN"
for script in postinst prerm postrm; do
  install -m 0755 "packaging/debian/$script" "$STAGE/DEBIAN/$script"
done
echo /etc/analyticsd/analyticsd.toml > "$STAGE/DEBIAN/conffiles"
SIZE=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
cat > "$STAGE/DEBIAN/control" <<CONTROL
Package: analyticsd
Version: $VERSION
Architecture: $ARCH
Maintainer: analyticsd developers <analyticsd@localhost>
Installed-Size: $SIZE
Depends: python3 (>= $PYVER), python3 (<< $NEXT), passwd
Section: web
Priority: optional
Homepage: https://github.com/analyticsd/analyticsd
Description: privacy-first web analytics daemon
 Takes beacons from your websites, acknowledges an event only once it is
 fsynced to an embedded LMDB spool, counts it exactly once into SQLite, and
 never stores a visitor's IP address or user agent. Runs as the systemd
 service analyticsd, configured in /etc/analyticsd/analyticsd.toml.
CONTROL

dpkg-deb --root-owner-group -Zxz -z1 --build "$STAGE" "$OUT" >/dev/null
echo "$OUT"
