"""What EHRs speak: FHIR R4 (`fhir`: a Bundle in, RiskAssessments or OperationOutcomes out)
and CDS Hooks 2.0 (`cds`). Reading and writing the data contract as FHIR resources is
`data_schemas.fhir`; this package turns our answers into the EHR's terms."""
