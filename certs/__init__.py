"""Certificate tooling: the organization CA and the certificates it issues."""
