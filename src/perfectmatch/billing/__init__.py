"""Billing: plans, subscription state machine, payment gateway use and webhooks.

- ``plans``: free, premium monthly and annual; money as integer minor units with a currency.
- ``subscription``: ``Account``, the ``TRANSITIONS`` table, ``transition`` (``InvalidTransition``
  otherwise) and ``is_premium`` (premium only while a paid period runs).
- ``entitlements``: ``EntitlementCheck``, the one feature-access check (cached, invalidated on change).
- ``service``: ``BillingService`` (subscribe, cancel, resume, ``run_renewals``: renewal 24 h before
  expiry, dunning at +1/+3/+5 days then free, 7-day email and 3-day in-app reminders, card notices).
- ``webhooks``: ``handle_webhook`` (Stripe signatures verified first; idempotent; order-tolerant).
- ``store``: the ``BillingStore`` port, ``InMemoryBillingStore`` and the ledger records.

Adapters: ``adapters.payments.{stripe,fake}`` and ``adapters.storage.billing``.
"""
