"""Where a session's HLS lives, the same for the embedded ffmpeg and nginx-rtmp: the URL layout
under FIELDCAST_HLS_BASE_URL mirrors the folder layout under FIELDCAST_HLS_DIR. And where its live
still (the card picture) lives, under FIELDCAST_MEDIA_DIR."""

from __future__ import annotations

PLAYLIST = "index.m3u8"


def live_playlist_url(hls_base_url: str, stream_name: str) -> str:
    return f"{hls_base_url.rstrip('/')}/live/{stream_name}/{PLAYLIST}"


def replay_playlist_url(hls_base_url: str, stream_name: str) -> str:
    return f"{hls_base_url.rstrip('/')}/replay/{stream_name}/{PLAYLIST}"


# A live room's card picture: one frame of its live HLS (media/stills.py writes it), under the
# media folder, so the app (or nginx) serves it as /media/stills/<session id>.jpg.
STILLS_DIR = "stills"


def still_media_path(session_id: int) -> str:
    """The still's path relative to FIELDCAST_MEDIA_DIR (and to the /media URL)."""
    return f"{STILLS_DIR}/{session_id}.jpg"
