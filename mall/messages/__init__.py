"""Messages that reach people: in-app notices, e-mail, SMS and merchants' webhooks, written to a
transactional outbox by the changes that cause them and delivered by ``flask --app app worker``."""
