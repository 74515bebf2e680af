"""``python -m otel_import_tracer run src.main:app`` works like the console script."""

import sys

from otel_import_tracer.cli import main

sys.exit(main())
