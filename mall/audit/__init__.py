"""The append-only audit trail of every operator and merchant-staff action."""
