"""Speaker labelling of long recordings as jobs: upload spooling, job state, the runner and the API."""
