from tests.messages.conftest import _messages_config, smtp  # noqa: F401  (the SMTP server the tests run)
