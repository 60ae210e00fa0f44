"""notify's domain: webhook signing, the notice body and the retry schedule. No I/O."""
