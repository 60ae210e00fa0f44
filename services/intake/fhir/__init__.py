"""FHIR R4 intake: a transaction Bundle in, a SubmitCaseRequest out, and the FHIR
resources that answer (OperationOutcome, transaction-response, ServiceRequest).

Pure: no I/O. The HTTP app (services/intake/fhir_api.py) parses the body with
`submission.read_bundle`, hands the request to the same `submit_case` use case
as gRPC's SubmitCase, and maps violations back with `Translation.locate`.

Reading a bundle is the kernel's (secondlook/fhir: `bundle` bytes to the R4B
model, `references`, `problems`). Here: `translate` (the mapping, documented there), `submission` (parse + translate + text checks),
`outcome` (OperationOutcome), `responses` (what success and reads return),
`vocabulary` (systems and the extension URLs this platform defines).
"""
