"""The history: the list of stored questions and each question's page, the filters behind them,
full-text search and the index of questions under each tag."""
