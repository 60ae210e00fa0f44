"""Plain in-memory fakes of the service layer's ports, for unit tests of use cases."""
