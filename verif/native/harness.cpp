// Native simulation harness of the zerotile accelerator.
//
// Owns the clock loop of the Verilated model, an AXI4 DRAM model on m_axi_* and an AXI4-Lite
// host on s_axil_*, and exposes them through a small extern "C" API (loaded by
// verif/native.py with ctypes). Python runs only at register accesses and job boundaries.
//
// DRAM model (AXI4 subordinate):
//   * read latency: cycles from the AR handshake to the first R beat's handshake (>= 1);
//   * write-response latency: cycles from the last W beat's handshake to the B handshake;
//   * at most `max_reads` read bursts and `max_writes` write bursts in flight;
//   * one beat per cycle per channel, responses in order, RID/BID echo ARID/AWID;
//   * seeded random pauses (probability per cycle) on AR, R, AW, W and B; a valid once raised
//     stays raised until its handshake;
//   * W beats are taken into a buffer whether or not their AW has arrived (as AxiRam does);
//   * fault ranges answering SLVERR or DECERR per beat (reads: that beat's RRESP; writes: the
//     beat is dropped and BRESP carries the error), as verif/dram.py does on the VIP engine;
//   * the bus monitor of verif/dram.py: every AR/AW is checked for INCR, full-width beats,
//     <= max_burst beats, no 4 KiB crossing, inside the DMA window and (writes) inside the
//     job's write regions; WLAST must mark exactly the last beat; after the first error
//     response no new AR/AW may be presented more than `grace` cycles later.
//     Breaches are kept as messages that Python turns into BusViolationError.
#include <cstdint>
#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include <type_traits>

#include "Vzerotile.h"
#include "Vzerotile___024root.h"
#include "verilated.h"
#ifdef ZT_TRACE
#include "verilated_fst_c.h"
#endif

namespace {

// --- moving bus words in and out of Verilator's port types -------------------------------
template <typename T>
void put_word(T& sig, const uint8_t* p, int n) {
    uint64_t v = 0;
    std::memcpy(&v, p, n);
    sig = static_cast<T>(v);
}
template <std::size_t W>
void put_word(VlWide<W>& sig, const uint8_t* p, int) {
    for (std::size_t i = 0; i < W; ++i) {
        uint32_t w;
        std::memcpy(&w, p + 4 * i, 4);
        sig[i] = w;
    }
}
template <typename T>
void get_word(const T& sig, uint8_t* p, int n) {
    uint64_t v = static_cast<uint64_t>(sig);
    std::memcpy(p, &v, n);
}
template <std::size_t W>
void get_word(const VlWide<W>& sig, uint8_t* p, int) {
    for (std::size_t i = 0; i < W; ++i) {
        uint32_t w = sig[i];
        std::memcpy(p + 4 * i, &w, 4);
    }
}

// The one-evaluation clock edge (see Harness::tick): Verilator 5 detects `posedge clk` by
// comparing clk with the value it saw at the previous evaluation, kept in this member of the
// model's root. Where a Verilator version names it differently, the harness falls back to
// the two-evaluation cycle.
template <typename R, typename = void>
struct ClockMemory { static constexpr bool known = false; static void forget(R*) {} };
template <typename R>
struct ClockMemory<R, std::void_t<decltype(std::declval<R&>().__Vtrigprevexpr___TOP__clk__0)>> {
    static constexpr bool known = true;
    static void forget(R* r) { r->__Vtrigprevexpr___TOP__clk__0 = 0; }
};
using Clock = ClockMemory<Vzerotile___024root>;

enum { OKAY = 0, SLVERR = 2, DECERR = 3 };
enum { CH_AR, CH_R, CH_AW, CH_W, CH_B, CHANNELS };
enum { KIND_READ = 1, KIND_WRITE = 2 };

struct Fault { uint64_t start, end; int resp, kinds; };
struct ReadBurst { uint64_t addr; int beats, beat, id; uint64_t ready_at; };
struct WriteBurst { uint64_t addr; int beats, beat, id, resp; };
struct WriteResp { int id, resp; uint64_t ready_at; };
struct WriteBeat { uint8_t data[32]; uint64_t strb; bool last; };

struct Harness {
    VerilatedContext ctx;
    Vzerotile* top;
    uint64_t cycle = 0;
    int bus_bytes, max_burst;
    std::vector<uint8_t> mem;
    uint64_t mem_mask;

    // timing
    int read_latency = 2, write_latency = 2, max_reads = 16, max_writes = 16;
    double pause[CHANNELS] = {0, 0, 0, 0, 0};
    std::mt19937_64 rng;
    std::uniform_real_distribution<double> uni{0.0, 1.0};

    // DRAM state
    std::deque<ReadBurst> reads;
    std::deque<WriteBurst> writes;
    std::deque<WriteResp> bresps;
    std::deque<WriteBeat> wbeats;
    std::vector<Fault> faults;

    // monitor
    uint64_t win_base = 0, win_limit = 0;
    std::vector<std::pair<uint64_t, uint64_t>> write_regions;
    bool check_write_regions = false;
    int grace = 2;
    bool error_seen = false;
    uint64_t error_at = 0;
    bool ar_busy = false, aw_busy = false;
    std::vector<std::string> violations;
    uint64_t txn_read = 0, txn_write = 0, hit_read = 0, hit_write = 0;

    // host handshakes sampled at the last clock edge
    bool lite_ar = false, lite_r = false, lite_aw = false, lite_w = false, lite_b = false;
    uint32_t lite_rdata = 0;
    int lite_resp = 0;

#ifdef ZT_TRACE
    VerilatedFstC* trace = nullptr;
    uint64_t trace_from = 0, trace_to = UINT64_MAX;
#endif

    Harness(uint64_t mem_bytes, int bus_bytes_, int max_burst_, uint64_t seed)
        : bus_bytes(bus_bytes_), max_burst(max_burst_), mem(mem_bytes, 0),
          mem_mask(mem_bytes - 1), rng(seed) {
        ctx.randReset(0);
        top = new Vzerotile{&ctx};
        win_limit = mem_bytes;
        top->clk = 0;
        top->rst = 1;
        drive_idle();
        top->eval();
    }
    ~Harness() {
#ifdef ZT_TRACE
        if (trace) { trace->close(); delete trace; }
#endif
        top->final();
        delete top;
    }

    void drive_idle() {
        top->m_axi_arready = 0; top->m_axi_rvalid = 0; top->m_axi_awready = 0;
        top->m_axi_wready = 0; top->m_axi_bvalid = 0;
        top->s_axil_arvalid = 0; top->s_axil_rready = 0; top->s_axil_awvalid = 0;
        top->s_axil_wvalid = 0; top->s_axil_bready = 0;
        top->s_axil_wstrb = 0xF; top->s_axil_arprot = 0; top->s_axil_awprot = 0;
    }

    bool paused(int ch) { return pause[ch] > 0 && uni(rng) < pause[ch]; }

    void violation(const std::string& msg) {
        if (violations.size() < 1000) violations.push_back(msg);
    }

    const Fault* fault_at(uint64_t addr, uint64_t len, int kind) const {
        for (const Fault& f : faults)
            if ((f.kinds & kind) && addr < f.end && addr + len > f.start) return &f;
        return nullptr;
    }

    void check_burst(const char* kind, uint64_t addr, int beats, int size, int burst,
                     bool is_write) {
        // AXI4: an unaligned start address covers bytes up to the next aligned boundary
        uint64_t end = (addr & ~uint64_t(size - 1)) + uint64_t(beats) * size;
        char head[96];
        std::snprintf(head, sizeof head, "%s burst %#llx+%dx%d: ", kind,
                      (unsigned long long)addr, beats, size);
        if (burst != 1) violation(head + std::string("burst type ") + std::to_string(burst) +
                                  " is not INCR");
        if (size != bus_bytes)
            violation(head + std::string("beat size ") + std::to_string(size) +
                      " bytes, bus is " + std::to_string(bus_bytes));
        if (beats > max_burst)
            violation(head + std::to_string(beats) + " beats > max_burst " +
                      std::to_string(max_burst));
        if (addr / 4096 != (end - 1) / 4096) violation(head + std::string("crosses a 4 KiB boundary"));
        if (addr < win_base || end > win_limit) {
            char w[96];
            std::snprintf(w, sizeof w, "outside the DMA window [%#llx, %#llx)",
                          (unsigned long long)win_base, (unsigned long long)win_limit);
            violation(head + std::string(w));
        }
        if (is_write && check_write_regions) {
            bool inside = false;
            for (auto& r : write_regions) inside |= (r.first <= addr && end <= r.second);
            if (!inside) violation(head + std::string("outside the regions this job may write"));
        }
    }

    // One clock cycle: sample every handshake, clock edge, then update the DRAM model and drive
    // its outputs for the next cycle.
    //
    // `exact` settles the inputs first (an evaluation with clk low) so that outputs that depend
    // combinationally on inputs are sampled right; the AXI4-Lite host needs it (AWREADY/WREADY
    // follow AWVALID and WVALID). Every m_axi_* output of the accelerator is a register
    // (tests/test_engines.py compares both ways), so while the host is idle one evaluation per
    // cycle suffices: the outputs sampled are those the last edge produced, and the inputs
    // driven since then are settled by the edge's own evaluation before the flops update.
    bool exact = !Clock::known;

    void tick(bool settle = false) {
        if (settle || exact) {
            top->clk = 0;
            top->eval();
        } else {
            Clock::forget(top->rootp);
        }
#ifdef ZT_TRACE
        if (trace && cycle >= trace_from && cycle < trace_to) trace->dump(2 * cycle);
#endif
        // sample
        const bool ar = top->m_axi_arvalid && top->m_axi_arready;
        const bool r = top->m_axi_rvalid && top->m_axi_rready;
        const bool aw = top->m_axi_awvalid && top->m_axi_awready;
        const bool w = top->m_axi_wvalid && top->m_axi_wready;
        const bool b = top->m_axi_bvalid && top->m_axi_bready;
        uint64_t araddr = top->m_axi_araddr, awaddr = top->m_axi_awaddr;
        int arlen = top->m_axi_arlen, awlen = top->m_axi_awlen;
        int arsize = top->m_axi_arsize, awsize = top->m_axi_awsize;
        int arburst = top->m_axi_arburst, awburst = top->m_axi_awburst;
        int arid = top->m_axi_arid, awid = top->m_axi_awid;
        uint8_t wdata[32];
        uint64_t wstrb = 0;
        bool wlast = false;
        if (w) {
            get_word(top->m_axi_wdata, wdata, bus_bytes);
            wstrb = static_cast<uint64_t>(top->m_axi_wstrb);
            wlast = top->m_axi_wlast;
        }
        int rresp = top->m_axi_rresp, bresp = top->m_axi_bresp;
        // error-response grace: a new AR/AW presented long after an error is a breach
        if (error_seen && cycle > error_at + grace) {
            if (top->m_axi_arvalid && !ar_busy)
                violation("read burst at " + hex(araddr) + " " + std::to_string(cycle - error_at) +
                          " cycles after the error response");
            if (top->m_axi_awvalid && !aw_busy)
                violation("write burst at " + hex(awaddr) + " " + std::to_string(cycle - error_at) +
                          " cycles after the error response");
        }
        ar_busy = top->m_axi_arvalid && !ar;
        aw_busy = top->m_axi_awvalid && !aw;
        if (!error_seen && ((r && rresp) || (b && bresp))) { error_seen = true; error_at = cycle; }
        lite_ar = top->s_axil_arvalid && top->s_axil_arready;
        lite_r = top->s_axil_rvalid && top->s_axil_rready;
        lite_aw = top->s_axil_awvalid && top->s_axil_awready;
        lite_w = top->s_axil_wvalid && top->s_axil_wready;
        lite_b = top->s_axil_bvalid && top->s_axil_bready;
        if (lite_r) { lite_rdata = top->s_axil_rdata; lite_resp = top->s_axil_rresp; }
        if (lite_b) lite_resp = top->s_axil_bresp;

        top->clk = 1;
        top->eval();
#ifdef ZT_TRACE
        if (trace && cycle >= trace_from && cycle < trace_to) trace->dump(2 * cycle + 1);
#endif
        ++cycle;

        // --- read channel ---
        if (ar) {
            ++txn_read;
            check_burst("read", araddr, arlen + 1, 1 << arsize, arburst, false);
            reads.push_back({araddr, arlen + 1, 0, arid, cycle + read_latency - 1});
        }
        if (r) {
            ReadBurst& h = reads.front();
            if (++h.beat == h.beats) reads.pop_front();
        }
        if (!(top->m_axi_rvalid && !r)) {      // not holding a beat: present the next one
            top->m_axi_rvalid = 0;
            if (!reads.empty() && reads.front().ready_at <= cycle && !paused(CH_R)) {
                ReadBurst& h = reads.front();
                uint64_t a = (h.addr & ~uint64_t(bus_bytes - 1)) + uint64_t(h.beat) * bus_bytes;
                uint8_t data[32];
                int resp = OKAY;
                if (const Fault* f = fault_at(a, bus_bytes, KIND_READ)) {
                    ++hit_read;
                    resp = f->resp;
                    std::memset(data, 0, bus_bytes);
                } else {
                    for (int i = 0; i < bus_bytes; ++i) data[i] = mem[(a + i) & mem_mask];
                }
                put_word(top->m_axi_rdata, data, bus_bytes);
                top->m_axi_rresp = resp;
                top->m_axi_rid = h.id;
                top->m_axi_rlast = (h.beat == h.beats - 1);
                top->m_axi_rvalid = 1;
            }
        }
        top->m_axi_arready = (int(reads.size()) < max_reads) && !paused(CH_AR);

        // --- write channels ---
        if (aw) {
            ++txn_write;
            check_burst("write", awaddr, awlen + 1, 1 << awsize, awburst, true);
            writes.push_back({awaddr, awlen + 1, 0, awid, OKAY});
        }
        if (w) {
            WriteBeat beat;
            std::memcpy(beat.data, wdata, sizeof beat.data);
            beat.strb = wstrb;
            beat.last = wlast;
            wbeats.push_back(beat);
        }
        // Beats meet their burst (W may run ahead of AW, as AXI allows).
        while (!writes.empty() && !wbeats.empty()) {
            WriteBurst& h = writes.front();
            const WriteBeat& wb = wbeats.front();
            uint64_t a = (h.addr & ~uint64_t(bus_bytes - 1)) + uint64_t(h.beat) * bus_bytes;
            if (const Fault* f = fault_at(a, bus_bytes, KIND_WRITE)) {
                ++hit_write;
                if (h.resp == OKAY || f->resp == DECERR) h.resp = f->resp;
            } else {
                for (int i = 0; i < bus_bytes; ++i)
                    if (wb.strb >> i & 1) mem[(a + i) & mem_mask] = wb.data[i];
            }
            bool last = (h.beat == h.beats - 1);
            if (wb.last != last)
                violation("write burst " + hex(h.addr) + ": WLAST " + (wb.last ? "on" : "missing on") +
                          " beat " + std::to_string(h.beat) + " of " + std::to_string(h.beats));
            wbeats.pop_front();
            if (++h.beat == h.beats) {
                bresps.push_back({h.id, h.resp, cycle + write_latency - 1});
                writes.pop_front();
            }
        }
        if (b) bresps.pop_front();
        if (!(top->m_axi_bvalid && !b)) {
            top->m_axi_bvalid = 0;
            if (!bresps.empty() && bresps.front().ready_at <= cycle && !paused(CH_B)) {
                top->m_axi_bid = bresps.front().id;
                top->m_axi_bresp = bresps.front().resp;
                top->m_axi_bvalid = 1;
            }
        }
        // W beats are buffered (up to max_writes bursts' worth) whether or not their AW came.
        top->m_axi_wready = (int(wbeats.size()) < max_writes * max_burst) && !paused(CH_W);
        top->m_axi_awready = (int(writes.size() + bresps.size()) < max_writes) && !paused(CH_AW);
    }

    static std::string hex(uint64_t v) {
        char s[24];
        std::snprintf(s, sizeof s, "%#llx", (unsigned long long)v);
        return s;
    }
};

}  // namespace

extern "C" {

void* zt_new(uint64_t mem_bytes, int bus_bytes, int max_burst, uint64_t seed) {
    if (mem_bytes == 0 || (mem_bytes & (mem_bytes - 1)) || bus_bytes > 32) return nullptr;
    return new Harness(mem_bytes, bus_bytes, max_burst, seed);
}
void zt_free(void* h) { delete static_cast<Harness*>(h); }

uint64_t zt_cycle(void* h) { return static_cast<Harness*>(h)->cycle; }

void zt_set_timing(void* hp, int read_latency, int write_latency, int max_reads, int max_writes,
                   const double* pause, uint64_t seed) {
    Harness* h = static_cast<Harness*>(hp);
    h->read_latency = read_latency < 1 ? 1 : read_latency;
    h->write_latency = write_latency < 1 ? 1 : write_latency;
    h->max_reads = max_reads < 1 ? 1 : max_reads;
    h->max_writes = max_writes < 1 ? 1 : max_writes;
    for (int i = 0; i < CHANNELS; ++i) h->pause[i] = pause[i];
    h->rng.seed(seed);
}

// Start monitoring one plan: the DMA window, the regions it may write (pairs of [start, end);
// n < 0 means writes anywhere in the window), the error grace, and fresh error tracking.
void zt_set_monitor(void* hp, uint64_t base, uint64_t limit, const uint64_t* regions, int n,
                    int grace) {
    Harness* h = static_cast<Harness*>(hp);
    h->win_base = base;
    h->win_limit = limit;
    h->check_write_regions = n >= 0;
    h->write_regions.clear();
    for (int i = 0; i < n; ++i) h->write_regions.push_back({regions[2 * i], regions[2 * i + 1]});
    h->grace = grace;
    h->error_seen = false;
}

void zt_clear_faults(void* hp) { static_cast<Harness*>(hp)->faults.clear(); }
void zt_add_fault(void* hp, uint64_t start, uint64_t end, int resp, int kinds) {
    static_cast<Harness*>(hp)->faults.push_back({start, end, resp, kinds});
}

void zt_stats(void* hp, uint64_t* out) {
    Harness* h = static_cast<Harness*>(hp);
    out[0] = h->txn_read; out[1] = h->txn_write; out[2] = h->hit_read; out[3] = h->hit_write;
    out[4] = h->violations.size();
}
const char* zt_violation(void* hp, int i) {
    Harness* h = static_cast<Harness*>(hp);
    return (i >= 0 && i < int(h->violations.size())) ? h->violations[i].c_str() : "";
}

void zt_mem_write(void* hp, uint64_t addr, const uint8_t* data, uint64_t len) {
    Harness* h = static_cast<Harness*>(hp);
    for (uint64_t i = 0; i < len; ++i) h->mem[(addr + i) & h->mem_mask] = data[i];
}
void zt_mem_read(void* hp, uint64_t addr, uint8_t* data, uint64_t len) {
    Harness* h = static_cast<Harness*>(hp);
    for (uint64_t i = 0; i < len; ++i) data[i] = h->mem[(addr + i) & h->mem_mask];
}

// 1: evaluate twice per cycle always (reference for the one-evaluation cycle).
int zt_set_exact(void* hp, int exact) {
    Harness* h = static_cast<Harness*>(hp);
    h->exact = exact || !Clock::known;
    return Clock::known;
}

void zt_set_reset(void* hp, int value) { static_cast<Harness*>(hp)->top->rst = value; }

void zt_step(void* hp, uint64_t n) {
    Harness* h = static_cast<Harness*>(hp);
    for (uint64_t i = 0; i < n; ++i) h->tick();
}

int zt_irq(void* hp) { return static_cast<Harness*>(hp)->top->irq; }

// Run until the interrupt line is high or `max_cycles` have passed; returns the line.
int zt_run_until_irq(void* hp, uint64_t max_cycles) {
    Harness* h = static_cast<Harness*>(hp);
    for (uint64_t i = 0; i < max_cycles && !h->top->irq; ++i) h->tick();
    return h->top->irq;
}

// AXI4-Lite register read; returns 0 and the data in *value, or -1 (no answer within
// max_cycles) or the RRESP when it is not OKAY.
int zt_read32(void* hp, uint32_t addr, uint32_t* value, uint64_t max_cycles) {
    Harness* h = static_cast<Harness*>(hp);
    Vzerotile* t = h->top;
    t->s_axil_araddr = addr;
    t->s_axil_arvalid = 1;
    t->s_axil_rready = 1;
    bool got_ar = false;
    for (uint64_t i = 0; i < max_cycles; ++i) {
        h->tick(true);
        if (h->lite_ar) { got_ar = true; t->s_axil_arvalid = 0; }
        if (h->lite_r && got_ar) {
            t->s_axil_rready = 0;
            *value = h->lite_rdata;
            return h->lite_resp;
        }
    }
    t->s_axil_arvalid = 0;
    t->s_axil_rready = 0;
    return -1;
}

int zt_write32(void* hp, uint32_t addr, uint32_t value, uint64_t max_cycles) {
    Harness* h = static_cast<Harness*>(hp);
    Vzerotile* t = h->top;
    t->s_axil_awaddr = addr;
    t->s_axil_wdata = value;
    t->s_axil_wstrb = 0xF;
    t->s_axil_awvalid = 1;
    t->s_axil_wvalid = 1;
    t->s_axil_bready = 1;
    bool got_aw = false, got_w = false;
    for (uint64_t i = 0; i < max_cycles; ++i) {
        h->tick(true);
        if (h->lite_aw) { got_aw = true; t->s_axil_awvalid = 0; }
        if (h->lite_w) { got_w = true; t->s_axil_wvalid = 0; }
        if (h->lite_b && got_aw && got_w) {
            t->s_axil_bready = 0;
            return h->lite_resp;
        }
    }
    t->s_axil_awvalid = 0;
    t->s_axil_wvalid = 0;
    t->s_axil_bready = 0;
    return -1;
}

// Waveforms (only in a build with ZT_TRACE): FST of cycles [from, to) into `path`.
int zt_trace_open(void* hp, const char* path, uint64_t from, uint64_t to) {
#ifdef ZT_TRACE
    Harness* h = static_cast<Harness*>(hp);
    h->ctx.traceEverOn(true);
    h->trace = new VerilatedFstC;
    h->top->trace(h->trace, 99);
    h->trace->open(path);
    h->trace_from = from;
    h->trace_to = to;
    return 0;
#else
    (void)hp; (void)path; (void)from; (void)to;
    return -1;
#endif
}

void zt_trace_close(void* hp) {
#ifdef ZT_TRACE
    Harness* h = static_cast<Harness*>(hp);
    if (h->trace) { h->trace->close(); delete h->trace; h->trace = nullptr; }
#else
    (void)hp;
#endif
}

}  // extern "C"
