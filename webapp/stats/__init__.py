"""Statistics: running totals kept with every write, the stats page and its charts, and
precision and recall per model version."""
