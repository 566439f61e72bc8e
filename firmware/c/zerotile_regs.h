/* zerotile register map: GENERATED from rtl/regmap.py by `zerotile header`.
 * Do not edit; regenerate. Offsets are byte addresses of 32-bit registers on the
 * AXI4-Lite slave (s_axil_*). */
#ifndef ZEROTILE_REGS_H
#define ZEROTILE_REGS_H

#include <stddef.h>
#include <stdint.h>

#define ZT_ID_MAGIC 0x5A54494Cu /* ID reads this (ZTIL) */
#define ZT_VERSION 0x00000300u /* the hardware version this header describes */

/* Registers */
#define ZT_REG_ID 0x00u /* ro: Identification, reads 0x5A54494C ('ZTIL'). */
#define ZT_REG_VERSION 0x04u /* ro: Hardware version, major<<16 | minor<<8 | patch. */
#define ZT_REG_CONFIG 0x08u /* ro: pes[7:0], lanes[15:8], bus_bits/8[23:16], max_chunks[31:24]. */
#define ZT_REG_B_WORDS 0x0Cu /* ro: Depth of each PE's B scratchpad bank in words of `lanes` bytes. */
#define ZT_REG_EPILOGUE_ROWS 0x10u /* ro: Most rows (M) of a job with FLAGS.EPILOGUE: the depth of the epilogue's per-row parameter memory. */
#define ZT_REG_CONTROL 0x14u /* rw: bit 0: interrupt enable. */
#define ZT_REG_STATUS 0x18u /* w1c: bit 0 busy (ro), bit 1 done (w1c), bit 2 error (w1c). The interrupt is (done or error) and enabled. */
#define ZT_REG_ERROR_CODE 0x1Cu /* ro: Why the last chain stopped (ErrorCode); 0 after a clean chain. */
#define ZT_REG_ERROR_ADDR 0x20u /* ro: Address involved in the error (descriptor, operand base or burst). */
#define ZT_REG_DESC_ADDR 0x24u /* rw: DRAM address of the first job descriptor (64-byte aligned). */
#define ZT_REG_DOORBELL 0x28u /* wo: Write any value: run the descriptor chain starting at DESC_ADDR (ignored while busy). */
#define ZT_REG_WINDOW_BASE 0x2Cu /* rw: Lowest DRAM address the DMA may touch (sampled at DOORBELL). */
#define ZT_REG_WINDOW_LIMIT 0x30u /* rw: One past the highest DRAM address the DMA may touch (sampled at DOORBELL: moving the window does not affect a running chain). */
#define ZT_REG_JOBS_DONE 0x34u /* ro: Descriptors completed in the current/last chain. */
#define ZT_REG_SOFT_RESET 0x38u /* wo: Write any value: soft reset. A running chain stops issuing, waits for its AXI transactions in flight, clears the datapath and goes idle with STATUS done and error clear (no interrupt); counters are kept. */
#define ZT_REG_SPGEMM_COLS 0x3Cu /* ro: Widest C (N) of a SpGEMM job: the depth of the SpGEMM engine's row accumulator; 0 when the tile has no SpGEMM engine. */
#define ZT_REG_CYCLES_BUSY_LO 0x40u /* ro: Cycles from doorbell to the end of the chain. Bits 31:0. */
#define ZT_REG_CYCLES_BUSY_HI 0x44u /* ro: Bits 63:32. */
#define ZT_REG_LANE_SLOTS_LO 0x48u /* ro: MAC lane-slots issued (L per PE per issuing cycle). Bits 31:0. */
#define ZT_REG_LANE_SLOTS_HI 0x4Cu /* ro: Bits 63:32. */
#define ZT_REG_EFFECTUAL_MACS_LO 0x50u /* ro: Lane-slots whose operands were both nonzero. Bits 31:0. */
#define ZT_REG_EFFECTUAL_MACS_HI 0x54u /* ro: Bits 63:32. */
#define ZT_REG_STALL_MEMORY_LO 0x58u /* ro: PE-cycles idle waiting for memory (descriptor, B load, A stream, C write). Bits 31:0. */
#define ZT_REG_STALL_MEMORY_HI 0x5Cu /* ro: Bits 63:32. */
#define ZT_REG_STALL_IMBALANCE_LO 0x60u /* ro: PE-cycles idle while the scanner waited on another PE's full queue. Bits 31:0. */
#define ZT_REG_STALL_IMBALANCE_HI 0x64u /* ro: Bits 63:32. */
#define ZT_REG_STALL_DRAIN_LO 0x68u /* ro: PE-cycles idle after the A stream ended, while other PEs and writes finish. Bits 31:0. */
#define ZT_REG_STALL_DRAIN_HI 0x6Cu /* ro: Bits 63:32. */
#define ZT_REG_DRAM_BYTES_READ_LO 0x70u /* ro: Bytes read over AXI4 (full beats). Bits 31:0. */
#define ZT_REG_DRAM_BYTES_READ_HI 0x74u /* ro: Bits 63:32. */
#define ZT_REG_DRAM_BYTES_WRITTEN_LO 0x78u /* ro: Bytes written over AXI4 (strobed bytes of each W beat). Bits 31:0. */
#define ZT_REG_DRAM_BYTES_WRITTEN_HI 0x7Cu /* ro: Bits 63:32. */
#define ZT_REG_PARTIAL_PRODUCTS_LO 0x80u /* ro: SpGEMM: partial products A[i,k]*B[k,j] formed (B entries walked for the nonzeros of A). Bits 31:0. */
#define ZT_REG_PARTIAL_PRODUCTS_HI 0x84u /* ro: Bits 63:32. */
#define ZT_REG_MERGES_LO 0x88u /* ro: SpGEMM: partial products added to a column of C's row already touched. Bits 31:0. */
#define ZT_REG_MERGES_HI 0x8Cu /* ro: Bits 63:32. */
#define ZT_REG_OUTPUT_NNZ_LO 0x90u /* ro: SpGEMM: nonzeros of C (entries whose sum is not 0), written or not. Bits 31:0. */
#define ZT_REG_OUTPUT_NNZ_HI 0x94u /* ro: Bits 63:32. */

/* Register fields: ZT_<REGISTER>_<FIELD>_{SHIFT,MASK} */
#define ZT_VERSION_PATCH_SHIFT 0u
#define ZT_VERSION_PATCH_MASK 0x000000FFu /* ro: Patch version. */
#define ZT_VERSION_MINOR_SHIFT 8u
#define ZT_VERSION_MINOR_MASK 0x0000FF00u /* ro: Minor version. */
#define ZT_VERSION_MAJOR_SHIFT 16u
#define ZT_VERSION_MAJOR_MASK 0xFFFF0000u /* ro: Major version: a driver refuses another major. */
#define ZT_CONFIG_PES_SHIFT 0u
#define ZT_CONFIG_PES_MASK 0x000000FFu /* ro: Processing elements P. */
#define ZT_CONFIG_LANES_SHIFT 8u
#define ZT_CONFIG_LANES_MASK 0x0000FF00u /* ro: int8 MAC lanes per PE L. */
#define ZT_CONFIG_BUS_BYTES_SHIFT 16u
#define ZT_CONFIG_BUS_BYTES_MASK 0x00FF0000u /* ro: AXI4 data width in bytes. */
#define ZT_CONFIG_MAX_CHUNKS_SHIFT 24u
#define ZT_CONFIG_MAX_CHUNKS_MASK 0xFF000000u /* ro: Accumulator words per PE (N <= max_chunks*L). */
#define ZT_CONTROL_IRQ_ENABLE_SHIFT 0u
#define ZT_CONTROL_IRQ_ENABLE_MASK 0x00000001u /* rw: Raise irq when a chain ends. */
#define ZT_STATUS_BUSY_SHIFT 0u
#define ZT_STATUS_BUSY_MASK 0x00000001u /* ro: A chain is running. */
#define ZT_STATUS_DONE_SHIFT 1u
#define ZT_STATUS_DONE_MASK 0x00000002u /* w1c: The last chain finished without error. */
#define ZT_STATUS_ERROR_SHIFT 2u
#define ZT_STATUS_ERROR_MASK 0x00000004u /* w1c: The last chain stopped on an error. */
#define ZT_FIELD_GET(reg, field, word) \
    (((word) & ZT_##reg##_##field##_MASK) >> ZT_##reg##_##field##_SHIFT)

#define ZT_COUNTER_COUNT 11u /* 64-bit counters, _LO then _HI, from ZT_REG_CYCLES_BUSY_LO */
#define ZT_COUNTER_CYCLES_BUSY 0u /* Cycles from doorbell to the end of the chain. */
#define ZT_COUNTER_LANE_SLOTS 1u /* MAC lane-slots issued (L per PE per issuing cycle). */
#define ZT_COUNTER_EFFECTUAL_MACS 2u /* Lane-slots whose operands were both nonzero. */
#define ZT_COUNTER_STALL_MEMORY 3u /* PE-cycles idle waiting for memory (descriptor, B load, A stream, C write). */
#define ZT_COUNTER_STALL_IMBALANCE 4u /* PE-cycles idle while the scanner waited on another PE's full queue. */
#define ZT_COUNTER_STALL_DRAIN 5u /* PE-cycles idle after the A stream ended, while other PEs and writes finish. */
#define ZT_COUNTER_DRAM_BYTES_READ 6u /* Bytes read over AXI4 (full beats). */
#define ZT_COUNTER_DRAM_BYTES_WRITTEN 7u /* Bytes written over AXI4 (strobed bytes of each W beat). */
#define ZT_COUNTER_PARTIAL_PRODUCTS 8u /* SpGEMM: partial products A[i,k]*B[k,j] formed (B entries walked for the nonzeros of A). */
#define ZT_COUNTER_MERGES 9u /* SpGEMM: partial products added to a column of C's row already touched. */
#define ZT_COUNTER_OUTPUT_NNZ 10u /* SpGEMM: nonzeros of C (entries whose sum is not 0), written or not. */

/* Job descriptor modes and limits */
#define ZT_MODE_DENSE 0u
#define ZT_MODE_CSR 1u
#define ZT_MAX_M 65535u
#define ZT_MAX_NNZ 4194303u
#define ZT_DESCRIPTOR_BYTES 64u
#define ZT_DESCRIPTOR_ALIGN 64u

/* Error codes (ERROR_CODE) */
typedef enum {
    ZT_ERROR_NONE = 0,
    ZT_ERROR_DESC_OUTSIDE_WINDOW = 1,
    ZT_ERROR_BAD_DESCRIPTOR = 2,
    ZT_ERROR_OPERAND_OUTSIDE_WINDOW = 3,
    ZT_ERROR_AXI_READ_ERROR = 4,
    ZT_ERROR_AXI_WRITE_ERROR = 5,
    ZT_ERROR_BAD_ROW_POINTERS = 6,
    ZT_ERROR_COLUMN_OUT_OF_RANGE = 7,
    ZT_ERROR_BAD_EPILOGUE_PARAMETER = 8,
    ZT_ERROR_OUTPUT_OVERFLOW = 9,
} zt_error_code;

#define ZT_ERROR_NAMES { "NONE", "DESC_OUTSIDE_WINDOW", "BAD_DESCRIPTOR", "OPERAND_OUTSIDE_WINDOW", "AXI_READ_ERROR", "AXI_WRITE_ERROR", "BAD_ROW_POINTERS", "COLUMN_OUT_OF_RANGE", "BAD_EPILOGUE_PARAMETER", "OUTPUT_OVERFLOW" }
#define ZT_ERROR_COUNT 10u

/* One job descriptor: 64 bytes, little-endian 32-bit words, 64-byte aligned in DRAM. */
typedef struct {
    uint32_t mode; /* 0: dense A (row-major int8, row stride K), 1: CSR A, 2: SpGEMM (CSR A times CSR B, C written as CSR; words 9, 11, 13-15 then hold B and C's capacity, see SPGEMM_FIELDS). */
    uint32_t next; /* Address of the next descriptor, 0 ends the chain. */
    uint32_t m; /* Rows of A and C (1..65535). */
    uint32_t k; /* Columns of A, rows of B (1..b_words; SpGEMM: 1..lanes/2*(b_words-1)-2). */
    uint32_t n; /* Columns of B and C in this job (1..max_chunks*lanes; SpGEMM: 1..SPGEMM_COLS). */
    uint32_t nnz; /* CSR: stored entries of A (ignored in dense mode). */
    uint32_t a_rowptr; /* CSR: address of M+1 int32 row pointers, 64-byte aligned. */
    uint32_t a_colidx; /* CSR: address of NNZ column indices: int32, or uint16 with FLAGS.COLIDX16; 64-byte aligned. */
    uint32_t a_values; /* Address of A's int8 values (CSR: NNZ of them; dense: M*K), 64-byte aligned. */
    uint32_t b_addr; /* Address of B, 64-byte aligned: K rows of ceil(N/L)*L int8, zero-padded. SpGEMM (B_ROWPTR): B's K+1 int32 row pointers. */
    uint32_t c_addr; /* Address of C's first element (int32), aligned to 4*L bytes. SpGEMM: C's region, 64-byte aligned: row pointers (M+1 int32, padded to a multiple of max(16, L)), then C_CAPACITY int32 column indices, then C_CAPACITY int32 values; whole chunks of L int32 are written, unused slots 0. */
    uint32_t c_stride; /* Bytes between rows of C; a multiple of 4*L. SpGEMM (B_NNZ): B's stored entries (1..lanes/2*b_words, at most 65,535). */
    uint32_t flags; /* bit 0 ACCUMULATE: C += A.B (the old C is read back, inside the window); bit 1 COLIDX16: CSR column indices are uint16 (3 bytes per nonzero instead of 5; SpGEMM: A's and B's); bit 2 EPILOGUE: int8 output through the requantisation epilogue (bias, multiplier, shift per row, zero point, clamp), written at Q_ADDR (C is then only read, when accumulating); other bits reserved (0). */
    uint32_t epi_params; /* SpGEMM (B_COLIDX): address of B's B_NNZ column indices (int32, or uint16 with FLAGS.COLIDX16). EPILOGUE: 64-byte aligned address of M rows of {int32 bias, int32 multiplier, int32 shift} (12 bytes per row; per tensor: the same values on every row). */
    uint32_t epi_quant; /* SpGEMM (C_CAPACITY): entries C's column-index and value arrays hold, a multiple of max(16, L). EPILOGUE: output zero point [7:0], act_min [15:8], act_max [23:16] (int8 each, act_min <= act_max; ReLU: act_min = zero point); [31:24] reserved (0). */
    uint32_t q_addr; /* SpGEMM (B_VALUES): address of B's B_NNZ int8 values. EPILOGUE: address of the int8 output's first element, aligned to L bytes; its rows are C_STRIDE / 4 bytes apart (C's layout with 1-byte elements: with C_STRIDE = 4 * ceil(N/L) * L it is exactly the next layer's B). */
} zt_descriptor;

#if defined(__cplusplus)
#define ZT_STATIC_ASSERT(cond, name) static_assert(cond, #name)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define ZT_STATIC_ASSERT(cond, name) _Static_assert(cond, #name)
#else
#define ZT_STATIC_ASSERT(cond, name) typedef char zt_static_assert_##name[(cond) ? 1 : -1]
#endif
ZT_STATIC_ASSERT(sizeof(zt_descriptor) == 64, descriptor_size);
ZT_STATIC_ASSERT(offsetof(zt_descriptor, mode) == 0, offset_mode);
ZT_STATIC_ASSERT(offsetof(zt_descriptor, next) == 4, offset_next);
ZT_STATIC_ASSERT(offsetof(zt_descriptor, m) == 8, offset_m);
ZT_STATIC_ASSERT(offsetof(zt_descriptor, k) == 12, offset_k);
ZT_STATIC_ASSERT(offsetof(zt_descriptor, n) == 16, offset_n);
ZT_STATIC_ASSERT(offsetof(zt_descriptor, nnz) == 20, offset_nnz);
ZT_STATIC_ASSERT(offsetof(zt_descriptor, a_rowptr) == 24, offset_a_rowptr);
ZT_STATIC_ASSERT(offsetof(zt_descriptor, a_colidx) == 28, offset_a_colidx);
ZT_STATIC_ASSERT(offsetof(zt_descriptor, a_values) == 32, offset_a_values);
ZT_STATIC_ASSERT(offsetof(zt_descriptor, b_addr) == 36, offset_b_addr);
ZT_STATIC_ASSERT(offsetof(zt_descriptor, c_addr) == 40, offset_c_addr);
ZT_STATIC_ASSERT(offsetof(zt_descriptor, c_stride) == 44, offset_c_stride);
ZT_STATIC_ASSERT(offsetof(zt_descriptor, flags) == 48, offset_flags);
ZT_STATIC_ASSERT(offsetof(zt_descriptor, epi_params) == 52, offset_epi_params);
ZT_STATIC_ASSERT(offsetof(zt_descriptor, epi_quant) == 56, offset_epi_quant);
ZT_STATIC_ASSERT(offsetof(zt_descriptor, q_addr) == 60, offset_q_addr);

#endif /* ZEROTILE_REGS_H */
