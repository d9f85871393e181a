import sys

from gwen.cli import main

sys.exit(main())
