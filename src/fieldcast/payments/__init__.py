"""Payments: one payment for the orders of a checkout, through a provider picked at start-up (the
in-process sandbox that behaves like WeChat Pay's Native flow; WeChat Pay and Alipay next)."""
