"""The ASGI entry point for uvicorn workers: settings from the environment."""

from gateway.app import create_app
from gateway.dev_mode import require_keys
from gateway.settings import Settings

settings = Settings()
require_keys(settings)  # a worker, like `serve`, never starts on keys it made itself unless asked to
app = create_app(settings)
