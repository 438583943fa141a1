import sys

from qbnn.cli import main

sys.exit(main())
