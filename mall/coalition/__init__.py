"""The coalition: the merchants that issue and redeem points, their status and their staff."""
