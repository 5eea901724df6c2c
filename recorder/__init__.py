"""Call recording control, index, search and retention."""
