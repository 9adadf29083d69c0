"""Video: stream keys, ingest hooks (nginx-rtmp), ffmpeg pipelines, HLS output and browser go-live."""
