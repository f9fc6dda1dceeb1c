"""`python -m analyticsd.examples`: where the shipped example files are."""

from importlib import resources

for name in ("analyticsd.toml", "analyticsd.service", "Caddyfile", "nginx.conf"):
    print(resources.files("analyticsd.examples") / name)
