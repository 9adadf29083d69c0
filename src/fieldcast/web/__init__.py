"""HTTP layer shared by every capability: problems, auth, CSRF, idempotency, templates, i18n."""
