/* Code that a device writes (Zifencei, virtio 1.x 2.7 and 4.2): M-mode runs a function
 * it wrote into a page, then has the virtio-blk disk read sector 0 over that page
 * (one polled 3-descriptor request on a split queue, virtio-mmio version 2), then
 * fence.i and runs the page again: it must run the disk's code. The disk's sector 0
 * starts with { li a0, 0x42; ret }. */
#include "common.inc"
    .equ RET, 0x00008067
    .equ LI_A0, 0x00000513
    .equ MMIO_FIRST, 0x10001000
    .equ MMIO_LAST, 0x10008000
    .equ QSIZE, 8
    .globl _start
_start:
    lla sp, stack_top
    lla t0, m_handler
    csrw mtvec, t0
    lla s1, code_page
    li t0, LI_A0 | (1 << 20)
    sw t0, 0(s1)
    li t0, RET
    sw t0, 4(s1)
    fence.i
    jalr s1
    call puthex                 /* 1: the CPU's code */
    /* find the block device (device ID 2) */
    li s0, MMIO_FIRST
    li t1, MMIO_LAST
1:  lw t0, 8(s0)
    li t2, 2
    beq t0, t2, found
    li t0, 0x1000
    add s0, s0, t0
    ble s0, t1, 1b
    li a0, 0xdead
    call puthex
    li a0, 1
    j exit
found:
    sw zero, 0x70(s0)           /* reset */
    li t0, 1 | 2                /* ACKNOWLEDGE | DRIVER */
    sw t0, 0x70(s0)
    li t0, 1
    sw t0, 0x24(s0)             /* DriverFeaturesSel = 1 */
    sw t0, 0x20(s0)             /* VIRTIO_F_VERSION_1 (feature bit 32) */
    sw zero, 0x24(s0)
    sw zero, 0x20(s0)
    li t0, 1 | 2 | 8            /* FEATURES_OK */
    sw t0, 0x70(s0)
    sw zero, 0x30(s0)           /* QueueSel = 0 */
    li t0, QSIZE
    sw t0, 0x38(s0)             /* QueueNum */
    lla t0, vq_desc
    sw t0, 0x80(s0)
    srli t0, t0, 32
    sw t0, 0x84(s0)
    lla t0, vq_avail
    sw t0, 0x90(s0)
    srli t0, t0, 32
    sw t0, 0x94(s0)
    lla t0, vq_used
    sw t0, 0xa0(s0)
    srli t0, t0, 32
    sw t0, 0xa4(s0)
    li t0, 1
    sw t0, 0x44(s0)             /* QueueReady */
    li t0, 1 | 2 | 8 | 4        /* DRIVER_OK */
    sw t0, 0x70(s0)
    /* request: VIRTIO_BLK_T_IN of sector 0 into code_page */
    lla t1, req_hdr
    sw zero, 0(t1)
    sw zero, 4(t1)
    sd zero, 8(t1)
    lla t2, vq_desc
    sd t1, 0(t2)                /* desc 0: header, 16 bytes, NEXT -> 1 */
    li t0, 16
    sw t0, 8(t2)
    li t0, 1 | (1 << 16)
    sw t0, 12(t2)
    sd s1, 16(t2)               /* desc 1: code_page, 512 bytes, NEXT|WRITE -> 2 */
    li t0, 512
    sw t0, 24(t2)
    li t0, 3 | (2 << 16)
    sw t0, 28(t2)
    lla t1, req_status
    li t0, 0xff
    sb t0, 0(t1)
    sd t1, 32(t2)               /* desc 2: status byte, WRITE */
    li t0, 1
    sw t0, 40(t2)
    li t0, 2
    sw t0, 44(t2)
    lla t1, vq_avail
    sh zero, 4(t1)              /* ring[0] = head 0 */
    fence
    li t0, 1
    sh t0, 2(t1)                /* idx = 1 */
    fence
    sw zero, 0x50(s0)           /* QueueNotify(0) */
    lla t1, vq_used
2:  lhu t0, 2(t1)
    beqz t0, 2b
    fence
    lla t1, req_status
    lbu a0, 0(t1)
    call puthex                 /* 0: VIRTIO_BLK_S_OK */
    fence.i
    jalr s1
    call puthex                 /* 0x42: the disk's code */
    li a0, 0
    j exit

    M_HANDLER_EXIT 1

    PUTC_FN
    .align 12
code_page: .space 4096
vq_desc: .space 4096
vq_avail: .space 4096
vq_used: .space 4096
req_hdr: .space 16
req_status: .space 16
    .align 12
    .space 1024
stack_top:
