"""The router's fixtures (keys, settings on the shared real Triton) serve the load profile's test too."""
from tests.router.conftest import admin_key, key_file, router_settings  # noqa: F401
