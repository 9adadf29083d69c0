"""Integrity: the audit log now; rules, alerts and verified GMV as commerce lands."""
