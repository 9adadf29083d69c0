"""Real-time: the bus (in-process or Redis); the room gateway arrives with the real-time issue."""
