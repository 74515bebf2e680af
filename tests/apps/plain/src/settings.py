PLUGIN = "csv_export"
CACHE = "memory"
