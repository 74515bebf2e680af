"""A root that imports three packages from outside it, of known relative cost: slowpkg (250 ms),
midpkg (10 ms, imported by src.models) and tinypkg (nothing)."""

import tinypkg

from src import models
import slowpkg

APP = (tinypkg.NAME, models.NAME, slowpkg.NAME)
