"""Analytics: per-minute figures of each show, written as things happen, for dashboards and reports."""
