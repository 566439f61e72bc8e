/* Runs the bare-metal C driver (firmware/c/zerotile.c) against the native engine: the
 * driver's two register functions become the harness's AXI4-Lite accesses, and waiting by
 * interrupt runs the clock until the irq line rises. Built and loaded by tests only. */
#include "zerotile.h"

typedef struct {
    void *model;
    int (*read32)(void *model, uint32_t addr, uint32_t *value, uint64_t max_cycles);
    int (*write32)(void *model, uint32_t addr, uint32_t value, uint64_t max_cycles);
    int (*run_until_irq)(void *model, uint64_t max_cycles);
} harness_api;

#define ACCESS_CYCLES 10000u

static uint32_t bridge_read32(void *ctx, uint32_t offset) {
    const harness_api *h = (const harness_api *)ctx;
    uint32_t value = 0xFFFFFFFFu;
    h->read32(h->model, offset, &value, ACCESS_CYCLES);
    return value;
}

static void bridge_write32(void *ctx, uint32_t offset, uint32_t value) {
    const harness_api *h = (const harness_api *)ctx;
    h->write32(h->model, offset, value, ACCESS_CYCLES);
}

/* One chain, as firmware on a SoC would run it. use_irq: wait for the interrupt (at most
   max_wait cycles), else poll STATUS (at most max_wait polls). */
int bridge_run_chain(harness_api *h, const zerotile_config *expected, uint32_t desc_addr,
                     uint32_t window_base, uint32_t window_limit, int use_irq,
                     uint64_t max_wait, zerotile_result *res, zerotile_counters *counters) {
    zerotile_bus bus;
    int status;
    bus.read32 = bridge_read32;
    bus.write32 = bridge_write32;
    bus.ctx = h;
    status = zerotile_check_config(&bus, expected);
    if (status != ZEROTILE_OK) return status;
    zerotile_set_window(&bus, window_base, window_limit);
    status = zerotile_start(&bus, desc_addr, use_irq);
    if (status != ZEROTILE_OK) return status;
    if (use_irq) {
        if (!h->run_until_irq(h->model, max_wait)) return ZEROTILE_TIMEOUT;
        status = zerotile_finish(&bus, res);
    } else {
        status = zerotile_wait(&bus, (uint32_t)max_wait, res);
    }
    zerotile_read_counters(&bus, counters);
    return status;
}

int bridge_soft_reset(harness_api *h, uint32_t max_polls) {
    zerotile_bus bus;
    bus.read32 = bridge_read32;
    bus.write32 = bridge_write32;
    bus.ctx = h;
    return zerotile_soft_reset(&bus, max_polls);
}
