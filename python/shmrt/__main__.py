"""python3 -m shmrt worker app:rt -q QUEUE (see shmrt.worker)."""
import sys

from .worker import main

sys.exit(main())
