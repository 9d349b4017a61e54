"""Other tools' runs and suites in and out: the Inspect AI log reader, mapping and import."""
