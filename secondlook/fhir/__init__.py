"""Reading FHIR R4 Bundles, shared by the services that take them (intake's cases,
matching's directory import): `bundle` (bytes to the R4B model, or why not),
`references` (resolving references inside a bundle), `problems` (one refusal
reason, with its FHIRPath). Pure: no I/O."""
