"""The site's core, shared by every feature: settings, the database and its tables, errors,
request guards, input checks, rate limits, templating, the tag catalogue and the site's commands."""
