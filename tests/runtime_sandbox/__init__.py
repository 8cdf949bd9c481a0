"""The bubblewrap sandbox of handler instances (issue 12): what it shows and hides."""
