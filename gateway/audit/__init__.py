"""The decision log: written before any answer, queried and verified by auditors."""
