"""Shoppable clips: a stretch of a show's replay with one product and Buy, at its own link."""
