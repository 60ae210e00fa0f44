"""secondlook's shared kernel: what all four services stand on.

One implementation of each cross-cutting concern (settings, logging, event bus,
outbox relay, idempotent consumer, gRPC scaffolding, auth, metrics), plus the
generated protobuf code (secondlook.v1) and the embedded dev stack launcher.
The kernel never imports a service.
"""
