"""The HLS folder served by the app itself (embedded backend, no nginx in front).

Content types are set here rather than guessed: many systems map `.ts` to TypeScript or Qt
translations. Playlists change every second: never cached, and read whole before sending,
since ffmpeg swaps them in by rename and a size taken before the swap would not match."""

from __future__ import annotations

import os
from pathlib import Path

from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"


class HlsFiles(StaticFiles):
    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        path = Path(full_path)
        if path.suffix == ".m3u8":
            try:
                body = path.read_bytes()
            except FileNotFoundError:
                return Response(status_code=404)
            headers = {"Cache-Control": "no-cache"}
            return Response(body, status_code=status_code, media_type=PLAYLIST_TYPE, headers=headers)
        media_type = SEGMENT_TYPE if path.suffix == ".ts" else None
        response = FileResponse(full_path, status_code=status_code, stat_result=stat_result, media_type=media_type)
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response
