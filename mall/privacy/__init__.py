"""Personal data: what a member can download, and deleting an account (every area erases its own part)."""
