"""clearance-gateway: policy-as-code access control for designated information."""

__version__ = "0.1.0"
