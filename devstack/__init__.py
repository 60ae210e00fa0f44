"""Development tooling, never used by the services themselves: the embedded stack
launcher, the `make run` demo, API clients, the simulated reviewer and a
verifying webhook receiver, shared by the demo, the benchmark and the tests."""
