"""OASIS CAP (Common Alerting Protocol) public warnings: parser and HTTP polling adapter."""
