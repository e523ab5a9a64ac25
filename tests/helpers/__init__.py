"""What the tests share besides fixtures: the throwaway PostgreSQL cluster, the browser
harness, screenshots, the stats oracle and small helpers."""
