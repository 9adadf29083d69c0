"""Room chat (弹幕) with moderation: posting under limits, banned words, deletion and mutes that
are always logged, and the stored history the replay shows."""
