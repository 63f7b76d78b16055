"""Notifier adapters: in-app only (default), recording (tests/examples); push and email plug in here."""
