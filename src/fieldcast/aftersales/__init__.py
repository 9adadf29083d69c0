"""After-sales (售后): refund requests, their decisions and escalations, returns, and refunds."""
