"""Pages that compose several capabilities: the home page, the room page, the host console."""
