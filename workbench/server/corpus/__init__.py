"""Questions asked of the whole corpus: similar samples, full-text search, YARA retrohunt."""
