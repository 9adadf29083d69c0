"""Check what `make dist` built: the wheel and the sdist both hold the vendored front-end assets
(hls.js, Pico CSS, ECharts: git-ignored, copied from node_modules by `make vendor`), the translation
catalogues, the templates and the migrations, so `pip install fieldcast-*.whl` serves working
pages without npm. Usage: python scripts/check_dist.py DIST_DIR"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

# Inside the package (fieldcast/...): what a served page needs beyond the Python code. The app
# reads the .po catalogues and compiles them in memory at start-up (i18n.py), so they are the
# compiled translations: there is no .mo to ship.
REQUIRED = (
    "web/static/vendor/hls.min.js",
    "web/static/vendor/echarts.min.js",
    "web/static/vendor/china.json",
    "web/static/vendor/pico.min.css",
    "web/static/app.css",
    "web/static/live/player.js",
    "web/locale/zh_CN/LC_MESSAGES/messages.po",
    "web/locale/en/LC_MESSAGES/messages.po",
    "web/templates/base.html",
    "web/templates/live/room.html",
    "db/migrations/env.py",
    "py.typed",
)
MIN_VENDOR_BYTES = 10_000  # a real hls.min.js or pico.min.css, not an empty placeholder


def missing(names: dict[str, int], prefix: str) -> list[str]:
    out = []
    for item in REQUIRED:
        size = names.get(prefix + item)
        if size is None or ("/vendor/" in item and size < MIN_VENDOR_BYTES):
            out.append(item)
    return out


def check(dist: Path) -> list[str]:
    problems: list[str] = []
    wheels, sdists = sorted(dist.glob("fieldcast-*.whl")), sorted(dist.glob("fieldcast-*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        return [f"expected one wheel and one sdist in {dist}, found {[p.name for p in (*wheels, *sdists)]}"]
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = {info.filename: info.file_size for info in wheel.infolist()}
    problems += [f"{wheels[0].name} lacks fieldcast/{item}" for item in missing(names, "fieldcast/")]
    with tarfile.open(sdists[0]) as sdist:
        members = {m.name: m.size for m in sdist.getmembers()}
    root = sdists[0].name.removesuffix(".tar.gz")
    problems += [f"{sdists[0].name} lacks src/fieldcast/{item}" for item in missing(members, f"{root}/src/fieldcast/")]
    return problems


def main() -> int:
    dist = Path(sys.argv[1] if len(sys.argv) > 1 else "dist")
    problems = check(dist)
    for problem in problems:
        print(f"check_dist: {problem}", file=sys.stderr)
    if not problems:
        print(f"check_dist: {', '.join(p.name for p in sorted(dist.glob('fieldcast-*')))} complete")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
