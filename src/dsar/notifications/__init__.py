"""Outbound notifications: a durable outbox, SNS-style signed messages, retries and a delivery log."""
