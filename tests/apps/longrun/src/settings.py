"""Configuration the processes of this app import while they start."""

NAME = "longrun"
