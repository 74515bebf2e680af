NAME = "tinypkg"
