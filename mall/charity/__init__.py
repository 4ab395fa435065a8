"""Charity: projects, one-off and monthly donations, merchant matching, payouts and receipts."""
