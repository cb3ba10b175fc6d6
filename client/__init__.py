"""Edge-VoMID client: Python SDK for the REST API, and the `vomid` command line."""
