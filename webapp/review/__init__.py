"""Reviewing: saving a reviewer's verdicts, teaching them to the models that learn, and the
lessons each reviewer gave."""
