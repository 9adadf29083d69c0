"""Write deploy/fieldcast.env.example from the Settings class: every FIELDCAST_* setting, with
its description and default, commented out, except the few a production host must set, which
are given with placeholder values. `--check` exits 1 when the file differs from what this would
write (tests/ops/test_deploy.py runs it), so a new setting cannot be left out.

Usage: python scripts/env_example.py [--check] [PATH]"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

from pydantic_core import PydanticUndefined

from fieldcast.config import Settings

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "deploy" / "fieldcast.env.example"
PREFIX = "FIELDCAST_"

# Set on every production host (values are placeholders); the rest keep their defaults unless
# the comment says otherwise.
PRODUCTION: dict[str, str] = {
    "data_dir": "/var/lib/fieldcast",
    "database_url": "postgresql://fieldcast@127.0.0.1/fieldcast",
    "redis_url": "redis://127.0.0.1:6379/0",
    "secret_key": "change-me-to-the-output-of-openssl-rand-base64-48",
    "host": "127.0.0.1",
    "fanout_port": "8100",
    "public_url": "https://live.example.org",
    "secure_cookies": "true",
    "hls_base_url": "/hls",
    "rtmp_url": "rtmp://127.0.0.1:1935/live",
    "rtmp_public_url": "rtmp://live.example.org:1935/live",
    "media_hook_secret": "change-me-to-the-output-of-openssl-rand-hex-32",
    "log_format": "json",
    "api_docs": "false",
}

HEADER = """\
# Fieldcast settings for every process of one deployment: /etc/fieldcast/fieldcast.env, read by
# the systemd units in deploy/systemd/ (EnvironmentFile=). Mode 0640, owner root, group fieldcast:
# it holds the secret key, the database password and the media hook secret.
#
# Generated from fieldcast/config.py by scripts/env_example.py; README.md's "Configuration" table
# says more about each. The uncommented lines are what a production host sets (replace the
# values); every other setting is shown commented out, at its default.
"""


def _default(field: Any) -> str:
    if field.default is PydanticUndefined or field.default is None:
        return ""
    value = field.default
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def render() -> str:
    lines = [HEADER.rstrip("\n")]
    for name, field in Settings.model_fields.items():
        env = PREFIX + name.upper()
        description = field.description or ""
        lines.append("")
        lines.extend(textwrap.wrap(description, width=98, initial_indent="# ", subsequent_indent="# "))
        if name in PRODUCTION:
            lines.append(f"{env}={PRODUCTION[name]}")
        else:
            lines.append(f"#{env}={_default(field)}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    path = Path(paths[0]) if paths else DEFAULT_PATH
    text = render()
    if check:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            print(f"{path} is out of date: run python scripts/env_example.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
