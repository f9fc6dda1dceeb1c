"""The bundled country database (the default of `[geoip] database = ""`).

bundled.toml pins it; packaging/geoip_db.py fetches it at install and
packaging time into this directory as country.mmdb, with its licence as
country-LICENSE.txt. Both ship in the wheel; neither is in git.
"""
