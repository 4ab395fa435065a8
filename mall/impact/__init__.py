"""Green impact: kg CO2e saved by green purchases and redemptions, the impact page and certificates."""
