import midpkg

NAME = "models of " + midpkg.NAME
