"""A conformance suite for the AuthZEN Authorization API 1.0, one check per normative statement the
gateway implements, named by the specification's section. The same checks run in CI against the ASGI
app (tests/http/test_conformance.py) and against a live deployment:

    python -m tests.conformance --base-url https://pdp.example.go.jp --token "$T_EVAL" [--allow P D]

They need no particular registry: they ask about ids no registry holds (answered `false`), and, given
`--allow PERSON DOCUMENT`, a pair the deployment allows. See checks.py.
"""
