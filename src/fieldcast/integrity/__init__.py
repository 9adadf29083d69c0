"""Integrity: rules over stored sales that raise alerts, the people who decide them, verified GMV
and the public ledger of a show. It sits above the capabilities whose rows it reads (commerce,
payments, after-sales, live) and never writes to them."""
