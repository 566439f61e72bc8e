/* zerotile bare-metal driver.
 *
 * Freestanding C99 (also C11 and C++): uses only <stdint.h> and <stddef.h>, allocates
 * nothing, and reaches the accelerator's AXI4-Lite registers through two functions the
 * integrator supplies in a zerotile_bus (MMIO loads and stores on a SoC; anything else in a
 * test bench). The register map comes from zerotile_regs.h, generated from rtl/regmap.py.
 *
 * A run:  zerotile_check_config -> zerotile_set_window -> zerotile_start ->
 *         zerotile_wait (polling, bounded)   or   [interrupt] -> zerotile_finish
 *         -> zerotile_read_counters.
 * Job descriptors and operands are laid out in DRAM by the host-side planner
 * (firmware/planner.py); this driver only runs them.
 */
#ifndef ZEROTILE_H
#define ZEROTILE_H

#include <stddef.h>
#include <stdint.h>

#include "zerotile_regs.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t (*read32)(void *ctx, uint32_t offset);              /* a register read */
    void (*write32)(void *ctx, uint32_t offset, uint32_t value); /* a register write */
    void *ctx;                                                    /* passed to both */
} zerotile_bus;

/* Return values of the functions below: 0 or a negative zerotile_status. */
typedef enum {
    ZEROTILE_OK = 0,
    ZEROTILE_NOT_FOUND = -1,     /* ID does not read ZT_ID_MAGIC */
    ZEROTILE_BAD_VERSION = -2,   /* another major hardware version */
    ZEROTILE_BAD_CONFIG = -3,    /* not the configuration the jobs were planned for */
    ZEROTILE_BUSY = -4,          /* a chain is running */
    ZEROTILE_TIMEOUT = -5,       /* still busy after the allowed polls */
    ZEROTILE_DEVICE_ERROR = -6,  /* the chain stopped on an error: see zerotile_result */
    ZEROTILE_NOT_ENDED = -7      /* zerotile_finish called while no chain has ended */
} zerotile_status;

typedef struct {
    uint32_t version, pes, lanes, bus_bytes, max_chunks, b_words;
} zerotile_config;

typedef struct {
    uint32_t jobs_done;   /* descriptors completed in the chain */
    uint32_t error_code;  /* zt_error_code; ZT_ERROR_NONE after a clean chain */
    uint32_t error_addr;  /* the address involved in the error */
} zerotile_result;

typedef struct {
    uint64_t value[ZT_COUNTER_COUNT];  /* indexed by ZT_COUNTER_<NAME> */
} zerotile_counters;

/* Read ID, VERSION, CONFIG and B_WORDS into *out (may be NULL). ZEROTILE_NOT_FOUND or
   ZEROTILE_BAD_VERSION when this is not a zerotile this driver can run. */
int zerotile_identify(const zerotile_bus *bus, zerotile_config *out);

/* zerotile_identify, then compare every field of *expected but version with the hardware. */
int zerotile_check_config(const zerotile_bus *bus, const zerotile_config *expected);

/* The DMA window [base, limit): no transaction of the next chain leaves it. */
void zerotile_set_window(const zerotile_bus *bus, uint32_t base, uint32_t limit);

/* Clear DONE/ERROR, set the interrupt enable, and run the chain at desc_addr (64-byte aligned).
   ZEROTILE_BUSY when a chain is running. */
int zerotile_start(const zerotile_bus *bus, uint32_t desc_addr, int irq_enable);

/* 1 while a chain runs, 0 once it has ended. */
int zerotile_busy(const zerotile_bus *bus);

/* Poll STATUS at most max_polls times for the end of the chain, then zerotile_finish.
   ZEROTILE_TIMEOUT if it is still running (call zerotile_soft_reset to stop it). */
int zerotile_wait(const zerotile_bus *bus, uint32_t max_polls, zerotile_result *res);

/* After the chain ended (interrupt, or zerotile_busy returned 0): fill *res (may be NULL),
   acknowledge DONE/ERROR (which drops the interrupt), and return ZEROTILE_OK or
   ZEROTILE_DEVICE_ERROR. */
int zerotile_finish(const zerotile_bus *bus, zerotile_result *res);

/* The performance counters (read when no chain runs: they move only while busy). */
void zerotile_read_counters(const zerotile_bus *bus, zerotile_counters *out);

/* SOFT_RESET, then poll until idle: ZEROTILE_OK, or ZEROTILE_TIMEOUT. */
int zerotile_soft_reset(const zerotile_bus *bus, uint32_t max_polls);

/* Names for messages: of an ERROR_CODE value, and of a zerotile_status. */
const char *zerotile_error_name(uint32_t error_code);
const char *zerotile_status_name(int status);

#ifdef __cplusplus
}
#endif

#endif /* ZEROTILE_H */
