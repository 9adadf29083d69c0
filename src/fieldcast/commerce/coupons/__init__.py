"""Coupons (购物福利): batches an organisation hands out, claimed by viewers in a live room, and
taken off an order at checkout. See discount.py for the arithmetic and actions.py for the rules."""
