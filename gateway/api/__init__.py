"""The HTTP edge: one router per kind of user. Thin: parse, authenticate, call, shape."""
