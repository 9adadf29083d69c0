"""Where a session's HLS lives, the same for the embedded ffmpeg and nginx-rtmp: the URL layout
under FIELDCAST_HLS_BASE_URL mirrors the folder layout under FIELDCAST_HLS_DIR."""

from __future__ import annotations

PLAYLIST = "index.m3u8"


def live_playlist_url(hls_base_url: str, stream_name: str) -> str:
    return f"{hls_base_url.rstrip('/')}/live/{stream_name}/{PLAYLIST}"


def replay_playlist_url(hls_base_url: str, stream_name: str) -> str:
    return f"{hls_base_url.rstrip('/')}/replay/{stream_name}/{PLAYLIST}"
