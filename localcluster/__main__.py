"""`python -m localcluster up | down | status | env | image`."""

import sys

from localcluster.cluster import main

sys.exit(main(sys.argv[1:]))
