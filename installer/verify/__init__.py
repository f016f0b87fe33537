"""`kinstall verify`: the checks a production team would make of a cluster, each with a verdict
(pass, fail, or skip with the reason), its duration and, on failure, what was expected, what was
seen and the diagnostics gathered. hosts.py reads the infrastructure checks the verify stage ran
on every host; api.py asks the API server; results.py renders them as text, JSON or JUnit XML."""
