"""A cluster's lifecycle around each run of the engine: what must hold before a run changes the
hosts (preconditions) and what follows it on the controller (after). The commands ask, run and
render; these decide."""
