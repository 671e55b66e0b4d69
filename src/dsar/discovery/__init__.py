"""Finding personal data before it is missed: detectors, `discover` (a draft data map from live sources),
`coverage` (personal data no walk of the data map reaches), and Fides datasets in and out.

Modules: detectors (what a column holds), schema (catalogue and bounded samples), references (declared and
inferred), scan (a source read and classified), draft (the draft data map's YAML), coverage, fides.
"""
