"""The clearance-gateway benchmark: `python -m bench` from the repository root (`--help` explains).

Four measurements on one generated registry, in one run: the decision core in process, a naive
PyCasbin ABAC baseline that must agree with it, the real gateway over HTTP with its decision log on,
and a bare FastAPI floor served the same way. Results print as a table and are written as JSON.
"""
