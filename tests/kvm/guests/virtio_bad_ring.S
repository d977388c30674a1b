/* virtio_blk.S with the descriptor table placed outside guest RAM. */
    .set BAD_RING, 1
    .include "virtio_blk.S"
