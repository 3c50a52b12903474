"""python -m ropegen [ARGS...]: the ropegen command line (`ropegen --help`), run with ARGS.

pip installs the same as the `ropegen` command. It runs the `ropegen` executable beside the
library the package loads (ropegen._lib.find_cli), so the command and the Python package
use one build."""
import os
import sys


def main(argv=None):
    """Replaces this process with the ropegen executable; returns 1 when there is none."""
    from ropegen._lib import find_cli  # loads no library: the command needs none of Python
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        path = find_cli()
    except FileNotFoundError as e:
        print(f"ropegen: {e}", file=sys.stderr)
        return 1
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(path, [path] + args)


if __name__ == "__main__":
    sys.exit(main())
