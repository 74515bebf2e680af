# The app: a root module importing four standard modules. What is in sys.modules when
# its body starts is what the app finds already imported (written where PREIMPORTS_OUT says).
import os
import sys

with open(os.environ["PREIMPORTS_OUT"], "w") as out:
    out.write("\n".join(sorted(sys.modules)))

import dataclasses  # noqa: E402,F401
import json  # noqa: E402,F401
import logging  # noqa: E402,F401
import typing  # noqa: E402,F401
