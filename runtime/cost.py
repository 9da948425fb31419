"""The cost model: event counts, energy and latency (docs/machine.md, "Cost model").

:class:`CostCounter` is updated by the instruction handlers while a program runs;
:class:`CostReport` is its frozen summary. Per-event costs come from the chip's ``[cost]`` table
(:class:`runtime.config.CostTable`; docs/runtime.md gives the source of every default).

Energy: an ADC conversion costs ``adc_pj * 2**(bits - adc_ref_bits)`` (the seed paper: converter
energy grows exponentially with resolution), a DAC conversion ``dac_pj * 2**(bits - 1)``, each
cell read in an input cycle ``cell_pj``, each programmed cell ``program_pj``, each vector element
``vector_pj``, each SRAM-IMC MAC ``sram_mac_pj``, each byte sent ``noc_pj_per_byte`` and each
issued instruction ``issue_pj``.

Latency follows per-unit clocks, all starting at 0 each run: every array, every tile's vector
unit, and a host vector unit for work in global memory. An MVM or ``wprog`` on array ``a`` of tile
``t`` starts when the array, tile ``t``'s vector unit and the host unit are free (its inputs may
come from any of them); MVMs on different arrays therefore overlap and MVMs on one array
serialize. A vector instruction whose destination is in tile ``t``'s buffer waits for tile ``t``
(its vector unit and arrays) and the host; one writing global memory waits for every unit. A
``send`` waits for the units of the tiles it touches (and the host when global memory is
involved) and leaves them all at its end; ``barrier`` synchronizes every clock. The control unit
issues one instruction per clock cycle, decoupled from the units, so a run's latency is the
larger of the latest unit clock and the issue time of all its instructions.

The counter also bounds a run's work (:meth:`CostCounter.limit`): the vector elements, the cells
an MVM reads (vectors x input cycles x rows x columns), the cells programmed, the SRAM-IMC MACs
and the words sent, and the wall-clock time, checked at every such event; past either bound the
event raises :class:`runtime.state.Trap`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from types import MappingProxyType

from runtime.config import ChipConfig
from runtime.crossbar import Precision
from runtime.state import Trap

ENERGY_KEYS = ("adc", "dac", "array", "program", "vector", "sram", "noc", "control")


@dataclass(frozen=True)
class CostReport:
    """Counts and estimates accumulated over ``runs`` executions of a program."""

    chip: str
    runs: int
    instructions: int
    by_category: MappingProxyType
    mvms: int
    dac_cycles: int  # input vectors x DAC cycles
    dac_conversions: int  # rows driven x DAC cycles x input vectors
    adc_conversions: int
    cells_programmed: int
    vector_elements: int
    sram_macs: int
    bytes_sent: int
    energy_breakdown_pj: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    latency_ns: float = 0.0

    @property
    def energy_pj(self) -> float:
        return float(sum(self.energy_breakdown_pj.values()))

    def summary(self) -> str:
        """A few lines for a terminal."""
        runs = f"{self.runs} run{'s' if self.runs != 1 else ''}"
        cats = ", ".join(f"{k} {v}" for k, v in self.by_category.items() if v)
        total = self.energy_pj
        parts = sorted(self.energy_breakdown_pj.items(), key=lambda kv: -kv[1])
        shares = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in parts if total and v) or "-"
        return "\n".join([
            f"cost on chip '{self.chip}' ({runs}):",
            f"  instructions  {self.instructions}" + (f" ({cats})" if cats else ""),
            f"  crossbar      {self.mvms} MVMs, {self.dac_cycles} input cycles, "
            f"{self.adc_conversions} ADC conversions, {self.cells_programmed} cells programmed",
            f"  digital       {self.vector_elements} vector elements, {self.sram_macs} SRAM-IMC "
            f"MACs, {self.bytes_sent} bytes sent",
            f"  energy        {_si(total * 1e-12, 'J')} ({shares})",
            f"  latency       {_si(self.latency_ns * 1e-9, 's')}"
            + (f" ({_si(self.latency_ns * 1e-9 / self.runs, 's')} per run)"
               if self.runs > 1 else ""),
        ])


def _si(v: float, unit: str) -> str:
    for scale, prefix in ((1, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p")):
        if abs(v) >= scale:
            return f"{v / scale:.3g} {prefix}{unit}"
    return f"{v / 1e-15:.3g} f{unit}" if v else f"0 {unit}"


class CostCounter:
    """Mutable counters and unit clocks of one machine."""

    def __init__(self, chip: ChipConfig):
        self.chip = chip
        self.c = chip.cost
        self.apt = chip.arrays_per_tile
        self.runs = 0
        self.mvms = self.dac_cycles = self.dac_conversions = self.adc_conversions = 0
        self.cells_programmed = self.vector_elements = self.sram_macs = self.bytes_sent = 0
        self.energy = dict.fromkeys(ENERGY_KEYS, 0.0)
        self.latency_ns = 0.0
        self.clock_ns = 1.0 / self.c.clock_ghz
        self.work = 0
        self.max_work: int | None = None
        self.deadline: float | None = None
        self.max_seconds: float | None = None
        self._reset_clocks()

    # ---- bounds -------------------------------------------------------------------------------

    def limit(self, max_work: int | None, max_seconds: float | None) -> None:
        """Bound the work of the run that starts now (``None``: no bound)."""
        self.work = 0
        self.max_work = max_work
        self.max_seconds = max_seconds
        self.deadline = None if max_seconds is None else time.monotonic() + max_seconds

    def charge(self, work: int) -> None:
        """Count ``work`` (elements, cells, MACs or words); trap past the run's bounds."""
        self.work += work
        if self.max_work is not None and self.work > self.max_work:
            raise Trap(f"work limit of {self.max_work} elements and cells per run reached",
                       "a loop that never ends? raise the limit with --max-work")
        self.check_clock()

    def check_clock(self) -> None:
        """Trap when the run has taken longer than its ``max_seconds``."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise Trap(f"time limit of {self.max_seconds:g} s reached",
                       "a loop that never ends? raise the limit with --max-seconds")

    def _reset_clocks(self) -> None:
        self.arr = [0.0] * self.chip.total_arrays
        self.arr_peak = [0.0] * self.chip.tiles  # latest array clock per tile
        self.tile = [0.0] * self.chip.tiles
        self.host = 0.0
        self.floor = 0.0  # set by barrier
        self.peak = 0.0  # latest clock of any unit

    def _finish(self, end: float) -> None:
        if end > self.peak:
            self.peak = end

    # ---- events -------------------------------------------------------------------------------

    def mvm_event(self, vl: int, h: int, w: int, p: Precision) -> tuple:
        """What an MVM of ``vl`` vectors on an ``h x w`` region adds (counts, energies, array
        time), for :meth:`mvm_apply`; the same for every MVM with these arguments."""
        c, cyc = self.c, p.cycles
        steps = vl * cyc
        adc_bits = p.adcb or self.chip.adc_bits or c.adc_ref_bits
        dac_bits = min(p.dacb, p.magnitude_bits) if p.ibits else p.dacb
        cycle_ns = max(c.read_ns, math.ceil(w / c.adcs_per_array) * c.adc_ns)
        return (steps, steps * h, steps * w,
                steps * w * c.adc_pj * 2.0 ** (adc_bits - c.adc_ref_bits),
                steps * h * c.dac_pj * 2.0 ** (dac_bits - 1),
                steps * h * w * c.cell_pj,
                steps * cycle_ns)

    def mvm_apply(self, array: int, event: tuple) -> None:
        """Count an MVM on ``array`` described by :meth:`mvm_event` (:meth:`charge` and
        :meth:`_array_busy` written out: this runs for every MVM)."""
        steps, dac, adc, e_adc, e_dac, e_array, busy = event
        self.work += dac * adc // steps if steps else 0  # cells read: steps * h * w
        if self.max_work is not None or self.deadline is not None:
            self.charge(0)
        self.mvms += 1
        self.dac_cycles += steps
        self.dac_conversions += dac
        self.adc_conversions += adc
        e = self.energy
        e["adc"] += e_adc
        e["dac"] += e_dac
        e["array"] += e_array
        t = array // self.apt
        arr, tile = self.arr, self.tile
        end = max(arr[array], tile[t], self.host, self.floor) + busy
        arr[array] = end
        if end > self.arr_peak[t]:
            self.arr_peak[t] = end
        if end > self.peak:
            self.peak = end

    def shift_add(self, elements: int) -> None:
        """The shift-and-add of an ``mvm`` with ``sablk > 1``: ``elements`` column outputs
        weighted and summed beside the array, as vector work (pipelined with the ADCs, so it
        adds energy and no time)."""
        self.charge(elements)
        self.vector_elements += elements
        self.energy["vector"] += elements * self.c.vector_pj

    def program(self, array: int, h: int, w: int) -> None:
        self.charge(h * w)
        self.cells_programmed += h * w
        self.energy["program"] += h * w * self.c.program_pj
        self._array_busy(array, h * self.c.program_ns)

    def _array_busy(self, array: int, dur: float) -> None:
        t = array // self.apt
        end = max(self.arr[array], self.tile[t], self.host, self.floor) + dur
        self.arr[array] = end
        if end > self.arr_peak[t]:
            self.arr_peak[t] = end
        self._finish(end)

    def vector(self, region: int, elements: int, *, macs: int = 0, sram: bool = False) -> None:
        """A vector-unit instruction writing memory ``region`` (0 global, 1 + t tile t)."""
        c = self.c
        work = elements + macs
        self.work += work  # charge(work), written out: this runs for every vector instruction
        if self.max_work is not None or self.deadline is not None:
            self.charge(0)
        self.vector_elements += elements
        if sram:
            self.sram_macs += macs
            self.energy["sram"] += macs * c.sram_mac_pj
            dur = macs / c.sram_macs_per_ns
        else:
            self.energy["vector"] += work * c.vector_pj
            dur = math.ceil(work / c.vector_lanes) * self.clock_ns
        if region == 0:
            end = self.host = max(self.peak, self.floor) + dur
        else:
            t = region - 1
            end = self.tile[t] = max(self.tile[t], self.arr_peak[t], self.host, self.floor) + dur
        if end > self.peak:
            self.peak = end

    def send(self, src_region: int, dst_region: int, nbytes: int) -> None:
        self.charge(nbytes // 4)
        self.bytes_sent += nbytes
        self.energy["noc"] += nbytes * self.c.noc_pj_per_byte
        tiles = {r - 1 for r in (src_region, dst_region) if r}
        start = max([self.floor] + [max(self.tile[t], self.arr_peak[t]) for t in tiles]
                    + ([self.host] if 0 in (src_region, dst_region) else []))
        end = start + self.c.noc_hop_ns + nbytes / self.c.noc_bytes_per_ns
        for t in tiles:
            self.tile[t] = end
        if 0 in (src_region, dst_region):
            self.host = end
        self._finish(end)

    def barrier(self) -> None:
        self.floor = self.peak

    def start_run(self) -> None:
        """Every run's unit clocks start at 0."""
        self._reset_clocks()

    def end_run(self, steps: int) -> None:
        """Close a completed run of ``steps`` instructions: add its latency and control
        energy."""
        self.runs += 1
        self.energy["control"] += steps * self.c.issue_pj
        self.latency_ns += max(self.peak, steps * self.clock_ns)

    def report(self, by_category: dict[str, int]) -> CostReport:
        return CostReport(
            chip=self.chip.name,
            runs=self.runs,
            instructions=sum(by_category.values()),
            by_category=MappingProxyType(dict(by_category)),
            mvms=self.mvms,
            dac_cycles=self.dac_cycles,
            dac_conversions=self.dac_conversions,
            adc_conversions=self.adc_conversions,
            cells_programmed=self.cells_programmed,
            vector_elements=self.vector_elements,
            sram_macs=self.sram_macs,
            bytes_sent=self.bytes_sent,
            energy_breakdown_pj=MappingProxyType(dict(self.energy)),
            latency_ns=self.latency_ns,
        )
