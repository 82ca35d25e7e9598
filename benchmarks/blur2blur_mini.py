"""Miniature Blur2Blur Table 2 (see camdeblur.eval.bench_blur2blur): known domain simulated gopro,
unknown cameras simulated phone and rsblur.

    python benchmarks/blur2blur_mini.py --out /tmp/b2b_mini      # == camdeblur bench blur2blur --preset mini
"""

import sys

from camdeblur.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["bench", "blur2blur", "--preset", "mini", *sys.argv[1:]]))
