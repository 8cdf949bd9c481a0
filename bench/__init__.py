"""fcemu's benchmarks (issue 13): ``python -m bench`` measures every figure side by side
with a bare aiohttp server (the floor) in one run and prints one table of ratios.

- :mod:`bench.floor`: the floor, a bare aiohttp app answering like fcemu's routes do.
- :mod:`bench.server`: fcemu in its own process, driven over stdin (deploy, fill, drain).
- :mod:`bench.load`: the HTTP load generator (N connections, latency percentiles).
- :mod:`bench.__main__`: the cells and the table.
- :mod:`bench.bench_drain`: the server's user and system CPU per task in a drain (the
  warm worker row's figure, alone and in detail).
- :mod:`bench.bench_instructions`: instructions per request or per task (callgrind), the
  figure that hardly moves with the machine's load.
- :mod:`bench.bench_async`: the older SDK-driven in-process vs worker comparison.

Servers are pinned to CPU 0 and the load to CPU 1 when ``taskset`` exists and the machine
has two CPUs or more. Never run in CI: timings are never asserted.
"""
