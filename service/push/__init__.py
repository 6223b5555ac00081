"""Web Push (RFC 8030/8291/8292): notifications for readers who are not on the page."""
