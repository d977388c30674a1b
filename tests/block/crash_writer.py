"""Child process for the crash-consistency test: random writes and flushes, forever.

Write i is derived from (seed, i) alone, so the parent can recompute every write; after
each completed flush the child prints the number of writes that flush covers.
"""

from __future__ import annotations

import random
import sys

from pyqemu.block.chain import open_image

SIZE = 4 << 20
WRITES_PER_FLUSH = 5


def write_op(seed: int, i: int) -> tuple[int, bytes]:
    rnd = random.Random(seed * 1_000_003 + i)
    n = rnd.choice([512, 4096, 65536, 100000, 3000])
    off = rnd.randrange(0, SIZE - n)
    return off, bytes([rnd.randrange(1, 256)]) * n


def main() -> None:
    path, seed, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    img = open_image(path, read_only=False)
    i = start
    print("ready", flush=True)
    while True:
        for _ in range(WRITES_PER_FLUSH):
            off, data = write_op(seed, i)
            img.write(off, data)
            i += 1
        img.flush()
        print(i, flush=True)


if __name__ == "__main__":
    main()
