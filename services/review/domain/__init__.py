"""review's domain: an assignment's states and what a complete opinion is. No I/O."""
