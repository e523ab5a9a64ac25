"""Asking: the ask page and form, the models each worker serves, storing their answers, why each
tag was suggested, and the pages that describe the models."""
