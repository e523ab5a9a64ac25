"""The model kinds, one module or package each, registered by name in ``ml.registry``."""
