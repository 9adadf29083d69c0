"""The demo: seed data marked as demo, test video and a simulated audience. Production code never imports it."""
