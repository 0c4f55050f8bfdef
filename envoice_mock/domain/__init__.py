"""Per-account state and business rules: documents, amounts, numbering, seeding. No HTTP."""
