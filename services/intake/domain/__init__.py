"""intake's domain: the case lifecycle and what a valid submission is. No I/O."""
