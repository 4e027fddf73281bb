"""The registry: fact resolution (the policy information point), import, administration."""
