"""Old code kept around; nothing imports this package any more."""
