/* zerotile bare-metal driver: see zerotile.h. */
#include "zerotile.h"

static uint32_t rd(const zerotile_bus *bus, uint32_t offset) {
    return bus->read32(bus->ctx, offset);
}

static void wr(const zerotile_bus *bus, uint32_t offset, uint32_t value) {
    bus->write32(bus->ctx, offset, value);
}

int zerotile_identify(const zerotile_bus *bus, zerotile_config *out) {
    uint32_t version, config;
    if (rd(bus, ZT_REG_ID) != ZT_ID_MAGIC) return ZEROTILE_NOT_FOUND;
    version = rd(bus, ZT_REG_VERSION);
    if (ZT_FIELD_GET(VERSION, MAJOR, version) != ZT_FIELD_GET(VERSION, MAJOR, ZT_VERSION))
        return ZEROTILE_BAD_VERSION;
    config = rd(bus, ZT_REG_CONFIG);
    if (out) {
        out->version = version;
        out->pes = ZT_FIELD_GET(CONFIG, PES, config);
        out->lanes = ZT_FIELD_GET(CONFIG, LANES, config);
        out->bus_bytes = ZT_FIELD_GET(CONFIG, BUS_BYTES, config);
        out->max_chunks = ZT_FIELD_GET(CONFIG, MAX_CHUNKS, config);
        out->b_words = rd(bus, ZT_REG_B_WORDS);
    }
    return ZEROTILE_OK;
}

int zerotile_check_config(const zerotile_bus *bus, const zerotile_config *expected) {
    zerotile_config hw;
    int status = zerotile_identify(bus, &hw);
    if (status != ZEROTILE_OK) return status;
    if (hw.pes != expected->pes || hw.lanes != expected->lanes ||
        hw.bus_bytes != expected->bus_bytes || hw.max_chunks != expected->max_chunks ||
        hw.b_words != expected->b_words)
        return ZEROTILE_BAD_CONFIG;
    return ZEROTILE_OK;
}

void zerotile_set_window(const zerotile_bus *bus, uint32_t base, uint32_t limit) {
    wr(bus, ZT_REG_WINDOW_BASE, base);
    wr(bus, ZT_REG_WINDOW_LIMIT, limit);
}

int zerotile_start(const zerotile_bus *bus, uint32_t desc_addr, int irq_enable) {
    if (rd(bus, ZT_REG_STATUS) & ZT_STATUS_BUSY_MASK) return ZEROTILE_BUSY;
    wr(bus, ZT_REG_STATUS, ZT_STATUS_DONE_MASK | ZT_STATUS_ERROR_MASK);
    wr(bus, ZT_REG_CONTROL, irq_enable ? ZT_CONTROL_IRQ_ENABLE_MASK : 0u);
    wr(bus, ZT_REG_DESC_ADDR, desc_addr);
    wr(bus, ZT_REG_DOORBELL, 1u);
    return ZEROTILE_OK;
}

int zerotile_busy(const zerotile_bus *bus) {
    return (rd(bus, ZT_REG_STATUS) & ZT_STATUS_BUSY_MASK) != 0;
}

int zerotile_wait(const zerotile_bus *bus, uint32_t max_polls, zerotile_result *res) {
    uint32_t i;
    for (i = 0; i < max_polls; ++i)
        if (!zerotile_busy(bus)) return zerotile_finish(bus, res);
    return ZEROTILE_TIMEOUT;
}

int zerotile_finish(const zerotile_bus *bus, zerotile_result *res) {
    uint32_t status = rd(bus, ZT_REG_STATUS);
    zerotile_result r;
    if (status & ZT_STATUS_BUSY_MASK) return ZEROTILE_BUSY;
    if (!(status & (ZT_STATUS_DONE_MASK | ZT_STATUS_ERROR_MASK))) return ZEROTILE_NOT_ENDED;
    r.jobs_done = rd(bus, ZT_REG_JOBS_DONE);
    r.error_code = ZT_ERROR_NONE;
    r.error_addr = 0;
    if (status & ZT_STATUS_ERROR_MASK) {
        r.error_code = rd(bus, ZT_REG_ERROR_CODE);
        r.error_addr = rd(bus, ZT_REG_ERROR_ADDR);
    }
    wr(bus, ZT_REG_STATUS, status & (ZT_STATUS_DONE_MASK | ZT_STATUS_ERROR_MASK));
    if (res) *res = r;
    return (status & ZT_STATUS_ERROR_MASK) ? ZEROTILE_DEVICE_ERROR : ZEROTILE_OK;
}

void zerotile_read_counters(const zerotile_bus *bus, zerotile_counters *out) {
    uint32_t i;
    for (i = 0; i < ZT_COUNTER_COUNT; ++i) {
        uint32_t lo = rd(bus, ZT_REG_CYCLES_BUSY_LO + 8u * i);
        uint32_t hi = rd(bus, ZT_REG_CYCLES_BUSY_LO + 8u * i + 4u);
        out->value[i] = ((uint64_t)hi << 32) | lo;
    }
}

int zerotile_soft_reset(const zerotile_bus *bus, uint32_t max_polls) {
    uint32_t i;
    wr(bus, ZT_REG_SOFT_RESET, 1u);
    for (i = 0; i < max_polls; ++i)
        if (!zerotile_busy(bus)) return ZEROTILE_OK;
    return ZEROTILE_TIMEOUT;
}

const char *zerotile_error_name(uint32_t error_code) {
    static const char *const names[] = ZT_ERROR_NAMES;
    return error_code < ZT_ERROR_COUNT ? names[error_code] : "UNKNOWN_ERROR";
}

const char *zerotile_status_name(int status) {
    switch (status) {
    case ZEROTILE_OK: return "OK";
    case ZEROTILE_NOT_FOUND: return "NOT_FOUND";
    case ZEROTILE_BAD_VERSION: return "BAD_VERSION";
    case ZEROTILE_BAD_CONFIG: return "BAD_CONFIG";
    case ZEROTILE_BUSY: return "BUSY";
    case ZEROTILE_TIMEOUT: return "TIMEOUT";
    case ZEROTILE_DEVICE_ERROR: return "DEVICE_ERROR";
    case ZEROTILE_NOT_ENDED: return "NOT_ENDED";
    default: return "UNKNOWN_STATUS";
    }
}
