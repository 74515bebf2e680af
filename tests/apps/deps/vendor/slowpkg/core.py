NAME = "slowpkg"
