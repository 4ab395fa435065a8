"""The points ledger: double-entry accounts, append-only transfers, expiring lots. No Flask imports."""
