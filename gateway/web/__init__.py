"""The auditors' web pages (`/audit/`): server-rendered HTML over the audit API's own functions."""
