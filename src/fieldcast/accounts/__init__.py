"""Accounts: users, organisations, roles, invitations, API tokens and real-name host verification."""
