from conftest_ai import fake_clock, fake_openai  # noqa: F401
