"""Fraud cases: the only way an operator may freeze or deduct a member's points."""
