import sys

from vimix_ssl.cli import main

sys.exit(main())
