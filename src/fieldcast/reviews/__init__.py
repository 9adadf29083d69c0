"""Reviews of what was bought: after delivery, sellers may reply but never hide them."""
