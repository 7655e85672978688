import sys

from pyctl.cli.main import main

sys.exit(main())
