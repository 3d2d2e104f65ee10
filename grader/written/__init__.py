"""Scoring written answers against rubric points (owned by the written-scoring work)."""
