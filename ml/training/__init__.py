"""Training: from a data file (``from_file``) and on the open-vocabulary corpus (``open_corpus``)."""
