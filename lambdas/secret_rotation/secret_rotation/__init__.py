"""Secrets Manager rotation function of the platform's database users (alternating users)."""
