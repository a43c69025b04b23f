"""CDS Hooks 2.0: the service the EHR discovers, calls on `patient-view`, and sends feedback to.

`hooks` holds the specification's JSON documents as models, `catalog` our service and its
prefetch templates, `gather` collects the FHIR resources (prefetch, else the EHR's FHIR
server) and `sources` reads the client history from them, `cards` words the answer,
`client_auth` checks the EHR's JWT and `records` keeps the cards issued and the feedback
received.
"""
