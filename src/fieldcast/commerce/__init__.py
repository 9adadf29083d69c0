"""Commerce: addresses, cart, stock and flash sales, checkout, orders and their state machine."""
