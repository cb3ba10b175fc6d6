"""The `vomid` subcommands, one module per job; `client.cli` only parses arguments and dispatches here."""
