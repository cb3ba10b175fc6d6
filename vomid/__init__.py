"""Edge-VoMID's deployable entry points: the embedded stack (`vomid up`), the Triton launcher, the `vomid` command.

Server-side only: the SDK (`client`) never imports this package, and nothing here imports the export code unless
`up` has to export a model.
"""
