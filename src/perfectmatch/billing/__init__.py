"""Billing: plans, subscription state machine, payment gateway use and webhooks."""
