"""Never imported: the audit lists it."""
