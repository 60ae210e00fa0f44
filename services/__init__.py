"""The four secondlook services. A service never imports another service."""
