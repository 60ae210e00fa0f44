"""matching's domain: which specialties cover a diagnosis, and who gets the case. No I/O."""
