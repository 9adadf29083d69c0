"""Live rooms: sessions and their schedule, shelf, pinning, events, co-streams, follows and replays."""
