"""Sequence classification (many-to-one) and tagging (many-to-many, aligned)."""
