"""Transcoding: ladder policy, ffmpeg argv, process supervision."""
