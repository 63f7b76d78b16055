"""User journeys after matching: likes and mutual matches, blocks, conversations and notifications.

These are service functions a backend calls with the ``bootstrap.App``; each opens its own unit of
work, validates its input with typed errors (``social.errors``) before changing anything, and
publishes events on the app's event bus only after its transaction committed.
"""
