"""Measuring responses: scoring (correctness, refusal, awareness), reasoning traces, the manipulation check and the blinded judge."""
