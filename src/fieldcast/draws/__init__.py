"""Lucky draws (抽奖) in a live room: public terms, a committed server seed, a published entrant
list and winners anyone can recompute (see verify.py and docs/draws.md)."""
