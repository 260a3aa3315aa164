"""The control panel: server-rendered page and static assets (vendored JavaScript, version in the path)."""
