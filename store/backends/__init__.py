"""One module per storage backend, all behind store.base.VoiceprintStore."""
