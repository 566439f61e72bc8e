"""The vip engine: the accelerator's Verilog under cocotb (Verilator or Icarus), with
cocotbext-axi's ``AxiRam`` as DRAM and ``AxiLiteMaster`` as the host (``job_bench``).

The cocotb run happens in a child process of its own session: Ctrl-C reaches this process
only (``KeyboardInterrupt``), which stops the child quietly instead of letting the simulator
print cocotb's traceback.
"""
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from .build_cache import cached_build, invalidate
from .errors import SimulationError
from .progress import Progress
from .toolchain import WAIVERS, QUIET_FINISH, VPI_TOP, prepare_env

__all__ = ["run_vip"]


# The bench's time goes to cocotb's Python side, not to the model: its C++ is compiled for
# build time. Measured on the default tile (compiler CPU, no ccache): verilated.mk's -Os
# 117 s, -O0 73 s; a 4-job run took 7.0 s with either.
VIP_MAKE_FLAGS = ["OPT_FAST=-O0", "OPT_SLOW=-O0", "OPT_GLOBAL=-O0"]


def _top_ports_only(runner):
    """cocotb's Verilator runner with the top level's signals public instead of every signal
    (``--public-flat-rw`` replaced by ``vpi_top.vlt``), its C++ compiled with
    ``VIP_MAKE_FLAGS``."""
    build_command = runner._build_command

    def command():
        cmds = build_command()
        verilate = [c for c in cmds[0] if c != "--public-flat-rw"]
        cmds[0] = verilate[:1] + [str(VPI_TOP)] + verilate[1:]
        cmds[1] = cmds[1] + VIP_MAKE_FLAGS
        return cmds
    runner._build_command = command
    return runner


def _runner(config, sim, waves):
    from cocotb_tools.runner import get_runner
    from zerotile.rtl.export import accelerator_verilog, TOP_NAME
    runner = get_runner(sim)
    if sim == "verilator":
        _top_ports_only(runner)

    def kwargs(bdir):
        kw = dict(sources=[bdir / f"{TOP_NAME}.v"], hdl_toplevel=TOP_NAME, build_dir=bdir,
                  waves=waves, timescale=("1ns", "1ps"), log_file=bdir / "build.log")
        if sim == "verilator":
            kw["build_args"] = [str(WAIVERS), str(QUIET_FINISH), "-CFLAGS", "-DVL_USER_FINISH"] + \
                (["--trace-fst"] if waves else [])
        return kw

    def build(bdir):
        print(f"building the {sim} model of configuration {config.describe()} "
              f"(first run only; cached in {bdir})...",
              file=sys.stderr, flush=True)
        (bdir / f"{TOP_NAME}.v").write_text(
            accelerator_verilog(config, icarus_compatible=(sim == "icarus")))
        try:
            runner.build(**kwargs(bdir))
        except Exception as e:
            raise SimulationError(f"{sim} build failed ({e}); see {bdir / 'build.log'}") from e

    for attempt in (1, 2):
        bdir, fresh = cached_build(sim, config, extra_files=[WAIVERS, QUIET_FINISH, VPI_TOP],
                                   variant="waves" if waves else "", build=build)
        if fresh:
            return runner, bdir
        try:
            runner.build(**kwargs(bdir))     # up to date: tells the runner its sources
            return runner, bdir
        except Exception:
            if attempt == 2:
                raise SimulationError(f"the cached {sim} build in {bdir} is unusable and "
                                      f"rebuilding it did not help; see {bdir / 'build.log'}")
            print(f"the cached {sim} build in {bdir} is stale; rebuilding it", file=sys.stderr)
            invalidate(bdir)


def run_vip(plans, *, sim, waves_path, pause_probability, seed, label, timeouts,
            faults, soft_reset_after):
    """Run ``plans`` back to back on the cocotb bench; the result entries of ``job_bench``
    (one dict per plan run)."""
    config = plans[0].config
    waves = waves_path is not None
    prepare_env()
    _runner(config, sim, waves)           # built (or found built) here, where its messages show
    work = Path(tempfile.mkdtemp(prefix="zerotile-"))
    try:
        jobs, results = work / "jobs.pkl", work / "results.pkl"
        with open(jobs, "wb") as f:
            pickle.dump({"plans": plans, "timeouts": timeouts, "pauses": pause_probability,
                         "seed": seed, "label": label, "faults": faults,
                         "soft_reset_after": soft_reset_after}, f)
        env = {"ZEROTILE_JOBS": str(jobs), "ZEROTILE_RESULTS": str(results),
               # the bench's progress lines follow the rule of verif.progress: terminals only
               "ZEROTILE_PROGRESS": "1" if Progress(label, 0).enabled else "0",
               "COCOTB_LOG_LEVEL": os.environ.get("COCOTB_LOG_LEVEL", "WARNING"),
               "GPI_LOG_LEVEL": os.environ.get("GPI_LOG_LEVEL", "WARNING"),
               # cocotbext-axi 0.1.28 still calls APIs cocotb 2 deprecates.
               "PYTHONWARNINGS": "ignore::DeprecationWarning"}
        plusargs = [f"+dumpfile_path={waves_path}"] if waves and sim == "icarus" else []
        request = work / "request.pkl"
        with open(request, "wb") as f:
            pickle.dump({"config": config, "sim": sim, "waves": waves, "seed": seed,
                         "plusargs": plusargs, "env": env, "work": str(work)}, f)
        _run_child(request)
        failure = work / "failure.txt"
        if failure.exists():
            raise SimulationError(f"{sim} simulation failed: {failure.read_text()}\n"
                                  f"{_tail(work / 'sim.log')}")
        if not results.exists():
            raise SimulationError(f"{sim} simulation ended without results\n"
                                  f"{_tail(work / 'sim.log')}")
        with open(results, "rb") as f:
            raw = pickle.load(f)
        if waves and sim == "verilator" and (work / "dump.fst").exists():
            shutil.move(work / "dump.fst", waves_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return raw


def _run_child(request):
    """``vip_child`` on ``request`` in a session of its own; on Ctrl-C here, stop it quietly
    (its simulator never sees the terminal's SIGINT) and re-raise."""
    proc = subprocess.Popen([sys.executable, "-m", "zerotile.verif.vip_child", str(request)],
                            start_new_session=True)
    try:
        proc.wait()
    except BaseException:
        for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, None)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(grace)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue
        raise


def run_request(request):
    """In the child: build handle (cached) and the cocotb test of one ``run_vip`` request.
    A failure is written to ``failure.txt`` beside the request, for the parent to raise."""
    with open(request, "rb") as f:
        r = pickle.load(f)
    work = Path(r["work"])
    try:
        runner, bdir = _runner(r["config"], r["sim"], r["waves"])
        runner.test(plusargs=r["plusargs"], test_module="zerotile.verif.job_bench",
                    hdl_toplevel="zerotile", build_dir=bdir, test_dir=work, extra_env=r["env"],
                    waves=r["waves"], results_xml=str(work / "results.xml"), seed=r["seed"],
                    timescale=("1ns", "1ps"))
    except Exception as e:
        (work / "failure.txt").write_text(str(e))


def _tail(path, lines=30):
    try:
        return "".join(Path(path).read_text(errors="replace").splitlines(True)[-lines:])
    except OSError:
        return ""
