"""Fieldcast: a self-hosted live-commerce platform for public-welfare selling."""

__version__ = "0.1.0"
