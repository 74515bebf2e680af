"""Logging as many apps configure it: dictConfig, which by default disables existing loggers.

The tracer's shutdown lines must appear anyway.
"""

import logging.config


def configure_logging() -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": True,
            "formatters": {"plain": {"format": "%(levelname)s: %(name)s: %(message)s"}},
            "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
            "loggers": {
                "src": {"level": "INFO"},
                "uvicorn": {"level": "INFO", "handlers": ["console"], "propagate": False},
            },
            "root": {"level": "WARNING", "handlers": ["console"]},
        }
    )
