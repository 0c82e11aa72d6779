"""Users' data, torch-free: table readers, column guessing, labeled texts and pictures, safe
archive unpacking, labels from folders or a table, the shared dataset base and split, uploads."""
