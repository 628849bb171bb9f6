"""Customers' branded tracking domains: the two records each workspace must add (a CNAME on the tracking
domain, an MX on the bounce name under the sending domain), their verification state and its history."""
