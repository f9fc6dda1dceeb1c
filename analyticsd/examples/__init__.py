"""The files an install needs besides the code, shipped in the wheel.

`analyticsd.toml` (the documented example configuration), `analyticsd.service`
(the systemd unit) and the Caddy and nginx configurations. They are the
project's config/ and systemd/ files (symlinked here, copied into the wheel).
"""
