"""What a child imports."""
