import sys

from tools.export.cli import main

sys.exit(main())
