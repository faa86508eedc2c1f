import sys

from bench.run import main

if __name__ == "__main__":  # the classifier's spawned worker re-imports this module
    sys.exit(main())
