"""Batch files: an uploaded file of questions tagged in the background, its pages and API."""
