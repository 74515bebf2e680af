"""Imported after startup completed: its dependency is a lazy one."""

import lazydep

NAME = lazydep.NAME
