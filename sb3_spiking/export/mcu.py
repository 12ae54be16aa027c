"""Run the C export on an emulated Cortex-M4F microcontroller and count its instructions.

The exported actor is cross-compiled for the Crazyflie's MCU class (STM32F405, Cortex-M4 with the
single-precision FPU: ``arm-none-eabi-gcc -mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard``),
linked with a minimal start-up file and newlib's semihosting library (``rdimon``), and run in
``qemu-system-arm -M netduinoplus2`` (QEMU's STM32F405 board). The firmware reads the recorded
observations from a host file through semihosting, steps the actor once per record and writes the
actions, spike counts and per-step SysTick counts back to a host file.

Instructions per step: QEMU runs with ``-icount shift=0``, so every guest instruction advances the
virtual clock by exactly 1 ns, and SysTick (clocked from the 168 MHz core clock) counts virtual
time. The firmware converts ticks to instructions with a calibration it measures itself: the tick
difference between two runs of a known loop (2 instructions per iteration, N and 2N iterations).
Resolution: one tick ≈ 6 instructions per measurement; the mean over an episode is exact to well
under 0.1 %.

Debian packages: ``gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sb3_spiking.export.c_export import export_c, recorded_inputs

#: Cortex-M4F code generation, the actor's float maths unchanged (no FMA contraction, as on the host)
ARM_FLAGS: tuple[str, ...] = (
    "-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard",
    "-O2", "-ffp-contract=off", "-ffunction-sections", "-fdata-sections",
)
#: warnings that the actor's own source must pass (the harness is ours)
ACTOR_WARNINGS: tuple[str, ...] = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")

_LINKER_SCRIPT = """/* STM32F405 (QEMU netduinoplus2): 1 MB flash, 128 KB SRAM. */
MEMORY
{
    FLASH (rx)  : ORIGIN = 0x08000000, LENGTH = 1024K
    RAM   (rwx) : ORIGIN = 0x20000000, LENGTH = 128K
}
ENTRY(Reset_Handler)
_estack = ORIGIN(RAM) + LENGTH(RAM);
SECTIONS
{
    .isr_vector : { KEEP(*(.isr_vector)) } > FLASH
    .text : { *(.text*) *(.rodata*) KEEP(*(.init)) KEEP(*(.fini)) . = ALIGN(4); } > FLASH
    .ARM.extab : { *(.ARM.extab* .gnu.linkonce.armextab.*) } > FLASH
    .ARM.exidx : { __exidx_start = .; *(.ARM.exidx*) __exidx_end = .; } > FLASH
    .init_array : { __init_array_start = .; KEEP(*(.init_array*)) __init_array_end = .; } > FLASH
    .fini_array : { __fini_array_start = .; KEEP(*(.fini_array*)) __fini_array_end = .; } > FLASH
    _sidata = LOADADDR(.data);
    .data : { _sdata = .; *(.data*) . = ALIGN(4); _edata = .; } > RAM AT> FLASH
    .bss (NOLOAD) : { _sbss = .; __bss_start__ = .; *(.bss*) *(COMMON) . = ALIGN(4); _ebss = .; __bss_end__ = .; } > RAM
    end = .; _end = .; __end__ = .;
}
"""

_STARTUP = r"""/* Minimal Cortex-M4F start-up: vector table, .data/.bss set-up, FPU on, semihosting, main. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern void initialise_monitor_handles(void);
extern int main(void);
void Reset_Handler(void);
void Fault_Handler(void);
void _init(void);
void _fini(void);

__attribute__((section(".isr_vector"), used)) void (*const vectors[16])(void) = {
    (void (*)(void))(&_estack), Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, 0, 0, 0, 0, Fault_Handler, Fault_Handler, 0, Fault_Handler, Fault_Handler,
};

/* newlib's exit() runs __libc_fini_array, which calls _fini (crt files are not linked) */
void _init(void) {}
void _fini(void) {}

void Fault_Handler(void)
{
    static const char msg[] = "mcu: fault\n";
    write(2, msg, sizeof(msg) - 1);
    _exit(3);
}

void Reset_Handler(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss; ++dst) {
        *dst = 0;
    }
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20; /* CPACR: CP10, CP11 full access (the FPU) */
    __asm volatile("dsb\n isb" ::: "memory");
    initialise_monitor_handles();
    exit(main());
}
"""

_FIRMWARE = r"""/* Firmware: step the actor over obs.bin (records [reset flag, obs...]) and write, per step,
 * [action... (float), spike count (uint32), SysTick ticks of the step call (uint32)] to act.bin;
 * calib.bin gets [ticks of N loop iterations, ticks of 2N, N] (2 instructions per iteration). */
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include "{name}.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)
#define CALIB_N 200000u

typedef struct {{
    float action[{upper}_N_OUTPUTS];
    uint32_t spikes;
    uint32_t ticks;
}} record_t;

static uint32_t elapsed(uint32_t start)
{{
    return (start - SYST_CVR) & 0xFFFFFFu; /* SysTick counts down, 24 bits */
}}

static uint32_t spin(uint32_t n)
{{
    uint32_t t0 = SYST_CVR;
    __asm volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(n) : : "cc");
    return elapsed(t0);
}}

static {name}_state_t state;

int main(void)
{{
    float rec[1 + {upper}_N_INPUTS];
    record_t out;
    uint32_t calib[3];
    int fin, fout, fcal;
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0u;
    SYST_CSR = 5u; /* enabled, core clock, no interrupt */
    calib[0] = spin(CALIB_N);
    calib[1] = spin(2u * CALIB_N);
    calib[2] = CALIB_N;
    fcal = open("calib.bin", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    fin = open("obs.bin", O_RDONLY);
    fout = open("act.bin", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fcal < 0 || fin < 0 || fout < 0) {{
        return 2;
    }}
    write(fcal, calib, sizeof(calib));
    close(fcal);
    {name}_reset(&state);
    while (read(fin, rec, sizeof(rec)) == (int)sizeof(rec)) {{
        uint32_t t0;
        if (rec[0] != 0.0f) {{
            {name}_reset(&state);
        }}
        t0 = SYST_CVR;
        {name}_step(&state, rec + 1, out.action);
        out.ticks = elapsed(t0);
        out.spikes = (uint32_t){name}_last_spike_count(&state);
        write(fout, &out, sizeof(out));
    }}
    close(fin);
    close(fout);
    return 0;
}}
"""


@dataclass
class MCUResult:
    """What one emulated run measured.

    :param actions: ``(T, n_outputs)`` actions computed on the emulated MCU.
    :param spikes: ``(T,)`` spike counts per step.
    :param instructions: ``(T,)`` instructions of each ``step`` call (from SysTick ticks).
    :param instructions_per_tick: the calibration (≈ 1e9 / 168e6 = 5.95 under ``-icount shift=0``).
    :param actor_size: ``arm-none-eabi-size`` of the actor's object file: ``text`` (code and const
        weights: flash), ``data``, ``bss``.
    :param firmware_size: the same for the whole firmware ELF (actor, harness, newlib).
    :param state_bytes: bytes of the actor's state struct (RAM the caller owns).
    :param stack_bytes: sum of the static stack frames of the actor's functions (``-fstack-usage``):
        an upper bound of the stack one step needs.
    :param kernel: the C kernel that ran.
    """

    actions: np.ndarray
    spikes: np.ndarray
    instructions: np.ndarray
    instructions_per_tick: float
    actor_size: dict[str, int]
    firmware_size: dict[str, int]
    state_bytes: int
    stack_bytes: int
    kernel: str

    @property
    def flash_bytes(self) -> int:
        """Flash taken by the actor: code + constants (+ initialised data's image)."""
        return self.actor_size["text"] + self.actor_size["data"]

    @property
    def ram_bytes(self) -> int:
        """RAM the actor needs: its state, its static data and (upper bound) its stack."""
        return self.state_bytes + self.actor_size["data"] + self.actor_size["bss"] + self.stack_bytes


def find_toolchain() -> dict[str, str] | None:
    """Paths of ``arm-none-eabi-gcc``, ``arm-none-eabi-size`` and ``qemu-system-arm``, or ``None``."""
    tools = {"gcc": "arm-none-eabi-gcc", "size": "arm-none-eabi-size", "qemu": "qemu-system-arm"}
    found = {key: shutil.which(exe) for key, exe in tools.items()}
    if any(v is None for v in found.values()):
        return None
    return found  # type: ignore[return-value]


def missing_tools() -> list[str]:
    """Names of the missing tools (empty when :func:`run_mcu_actor` can run)."""
    return [exe for exe in ("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm") if shutil.which(exe) is None]


def _size(size_exe: str, path: Path) -> dict[str, int]:
    out = subprocess.run([size_exe, "-B", str(path)], capture_output=True, text=True, check=True).stdout
    text, data, bss = (int(v) for v in out.splitlines()[1].split()[:3])
    return {"text": text, "data": data, "bss": bss}


def _stack_usage(su_file: Path) -> int:
    # lines "file.c:LINE:COL:function   BYTES   static|dynamic"
    total = 0
    for line in su_file.read_text().splitlines():
        m = re.search(r"\s(\d+)\s+\S+$", line)
        if m:
            total += int(m.group(1))
    return total


def run_mcu_actor(
    actor: Any,
    observations: np.ndarray,
    episode_starts: np.ndarray | None = None,
    kernel: str = "event",
    workdir: str | os.PathLike[str] | None = None,
    timeout: float = 600.0,
) -> MCUResult:
    """Cross-compile ``actor``'s C export for Cortex-M4F and run it in QEMU over an observation stream.

    :param actor: anything :func:`~sb3_spiking.export.c_export.export_c` accepts.
    :param observations: ``(T, n_inputs)`` observations, one per control step.
    :param episode_starts: ``(T,)`` flags; the state is reset before steps where set.
    :param kernel: the C export's kernel (``"event"`` or ``"dense"``).
    :param workdir: where to build (a temporary directory if ``None``; kept when given).
    :param timeout: seconds QEMU may run.
    :raises RuntimeError: when a tool is missing, compiling fails or the firmware does not finish.
    """
    tools = find_toolchain()
    if tools is None:
        raise RuntimeError(f"missing tools: {', '.join(missing_tools())} "
                           "(Debian: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)")
    obs, starts = recorded_inputs(observations, episode_starts)
    with tempfile.TemporaryDirectory() as tmp:
        build = Path(workdir) if workdir is not None else Path(tmp)
        build.mkdir(parents=True, exist_ok=True)
        name = "snn_actor"
        exp = export_c(actor, build, name, kernel=kernel)
        if obs.shape[1] != exp.n_inputs:
            raise ValueError(f"observations have {obs.shape[1]} features, the actor expects {exp.n_inputs}")
        (build / "link.ld").write_text(_LINKER_SCRIPT)
        (build / "startup.c").write_text(_STARTUP)
        (build / "firmware.c").write_text(_FIRMWARE.format(name=name, upper=name.upper()))

        def cc(*args: str) -> None:
            proc = subprocess.run([tools["gcc"], *ARM_FLAGS, *args], cwd=build, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"arm-none-eabi-gcc {' '.join(args)} failed:\n{proc.stderr}")

        cc(*ACTOR_WARNINGS, "-fstack-usage", "-c", f"{name}.c", "-o", f"{name}.o")
        cc("-c", "startup.c", "-o", "startup.o")
        cc("-c", "firmware.c", "-o", "firmware.o")
        cc("-nostartfiles", "--specs=rdimon.specs", "-T", "link.ld", "-Wl,--gc-sections",
           "startup.o", "firmware.o", f"{name}.o", "-lm", "-o", "firmware.elf")
        records = np.concatenate([starts[:, None], obs], axis=1).astype(np.float32)
        (build / "obs.bin").write_bytes(records.tobytes())
        cmd = [tools["qemu"], "-M", "netduinoplus2", "-nographic", "-monitor", "none", "-serial", "null",
               "-icount", "shift=0", "-semihosting-config", "enable=on,target=native", "-kernel", "firmware.elf"]
        try:
            run = subprocess.run(cmd, cwd=build, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"qemu-system-arm did not finish within {timeout:.0f} s") from exc
        act_file = build / "act.bin"
        n_out = exp.n_outputs
        rec = np.dtype([("action", np.float32, (n_out,)), ("spikes", np.uint32), ("ticks", np.uint32)])
        raw = act_file.read_bytes() if act_file.exists() else b""
        if len(raw) != rec.itemsize * len(obs):
            raise RuntimeError(f"firmware wrote {len(raw)} bytes, expected {rec.itemsize * len(obs)}; "
                               f"qemu exit {run.returncode}: {run.stdout[-500:]} {run.stderr[-500:]}")
        out = np.frombuffer(raw, dtype=rec)
        t1, t2, n = np.frombuffer((build / "calib.bin").read_bytes(), dtype=np.uint32)
        per_tick = 2.0 * float(n) / float(t2 - t1)  # the extra N iterations are 2N instructions
        return MCUResult(
            actions=out["action"].copy(),
            spikes=out["spikes"].astype(np.int64),
            instructions=out["ticks"].astype(np.float64) * per_tick,
            instructions_per_tick=per_tick,
            actor_size=_size(tools["size"], build / f"{name}.o"),
            firmware_size=_size(tools["size"], build / "firmware.elf"),
            state_bytes=exp.state_bytes,
            stack_bytes=_stack_usage(build / f"{name}.su"),
            kernel=kernel,
        )


__all__ = ["ARM_FLAGS", "MCUResult", "find_toolchain", "missing_tools", "run_mcu_actor"]
