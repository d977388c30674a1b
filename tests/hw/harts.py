"""The one test double allowed: a hart that records its interrupt inputs."""


class RecordingHart:
    """Implements the hart interface the board wires: hartid, set_interrupt, kick."""

    def __init__(self, hartid: int) -> None:
        self.hartid = hartid
        self.mip = 0
        self.log: list[tuple[int, bool]] = []
        self.kicks = 0

    def set_interrupt(self, mip_bit: int, level: bool) -> None:
        self.log.append((mip_bit, level))
        if level:
            self.mip |= 1 << mip_bit
        else:
            self.mip &= ~(1 << mip_bit)

    def kick(self) -> None:
        self.kicks += 1

    def pending(self, bit: int) -> bool:
        return bool(self.mip >> bit & 1)
