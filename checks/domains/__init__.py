"""Verifying customers' tracking-domain records in DNS: lookups with a time budget, diagnoses a customer can act
on, and comparing a zone's authoritative servers."""
