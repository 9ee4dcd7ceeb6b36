"""`python -m triscope ...`: the same as the `triscope` command. Also the script the launcher
re-executes itself as under the allocator library (`python .../triscope/__main__.py ...`,
preload.triscope_command), which, unlike `python -m triscope`, adds no directory of the
user's to sys.path.

Before anything is imported: the interpreter has put first on sys.path the working directory
(under -m) or this file's directory (run as a script). Neither may supply the modules triscope
imports (a json.py in the working directory would run instead of the program), so that entry
becomes the directory holding the triscope package, where triscope itself came from.
launch.run gives the program its own first entry, as Python would (docs/ARCHITECTURE.md,
"The launcher and child processes"). Under -P no entry was added, and none is here.
"""

import sys

if not sys.flags.safe_path:
    sys.path[0] = __file__.rsplit("/", 2)[0]  # string work only: nothing may be imported yet

from triscope.cli import main  # noqa: E402

sys.exit(main())
