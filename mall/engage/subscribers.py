"""What the engage area does when other areas' domain events happen (see mall.events)."""


def connect() -> None:
    """Connect this area's subscribers (called once by create_app; connecting twice is harmless)."""
