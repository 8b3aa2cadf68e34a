# frozen_string_literal: true

# Ruby benchmarks (`make ruby-bench`), each against a baseline measured in
# the same run:
#  1. begin_request+end_request, and begin_ticket+end_ticket (the
#     middleware's), through the ffi gem against two bare method calls of a
#     Ruby object (goal: <= 3x);
#  2. hello-world requests/s of Puma in cluster mode (2 workers, threads
#     1..4), plain against `plugin :workerlife` (goal: <= 3 % lost), with
#     wrk, alternating, median of 3.
#
# BENCH_QUICK=1 (what CI runs): one round of each measurement and wrk runs
# of 2 s, each ratio still against its baseline measured in the same run;
# the full rounds are what docs/benchmarks.md quotes. BENCH_ROUNDS sets the
# rounds of the server runs either way.

require "workerlife"
require_relative "../test/harness"

QUICK = ENV["BENCH_QUICK"] == "1"
REPEATS = QUICK ? 1 : 5
SERVER_ROUNDS = Integer(ENV["BENCH_ROUNDS"] || (QUICK ? 1 : 3))
SECONDS = QUICK ? 2 : 3

def per_op(n)
  (n / 10).times { yield }
  t = Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond)
  n.times { yield }
  (Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond) - t).to_f / n
end

def median(xs) = xs.sort[xs.size / 2]

# The baseline: two calls that change state, as begin and end do.
class Counter
  def initialize = @n = 0
  def begin_request = (@n += 1) > 1e15
  def end_request = (@n -= 1) < -1
end

pool = WorkerLife::Pool.new("max_requests=1000000000", slots: 1)
pool.spawned(0, Process.pid)
w = pool.worker(0)
bare = Counter.new
rounds = Array.new(REPEATS) do
  [per_op(500_000) { bare.begin_request; bare.end_request }, per_op(500_000) { w.begin_request; w.end_request },
   per_op(500_000) { w.end_ticket(w.begin_ticket) }]
end
base = median(rounds.map(&:first))
ours = median(rounds.map { |r| r[1] })
tickets = median(rounds.map(&:last))
puts "Ruby begin_request+end_request through the ffi gem (median of #{REPEATS} rounds of 500k)"
puts format("  two bare Ruby method calls   %8.1f ns", base)
puts format("  worker.begin/end_request     %8.1f ns   %.1fx", ours, ours / base)
# What WorkerLife::Rack calls for each request.
puts format("  worker.begin/end_ticket      %8.1f ns   %.1fx", tickets, tickets / base)
puts "  goal: <= 3x"
w.close
pool.close

def wrk(port)
  out = `wrk -t2 -c16 -d#{SECONDS}s http://127.0.0.1:#{port}/`
  Float(out[/Requests\/sec:\s+([\d.]+)/, 1] || raise("wrk said: #{out}"))
end

results = { plain: [], workerlife: [] }
SERVER_ROUNDS.times do
  %i[plain workerlife].each do |kind|
    env = { "APP_THREADS" => "4", "WORKERLIFE_POLICY" => "" }
    env["APP_PLAIN"] = "1" if kind == :plain
    Harness.with_puma(env) do |puma|
      wrk(puma.port) # warm up
      results[kind] << wrk(puma.port)
    end
  end
end
plain = median(results[:plain])
ours = median(results[:workerlife])
puts "Puma 5 cluster, 2 workers, threads 1..4, hello world, wrk -t2 -c16 -d#{SECONDS}s " \
     "(median of #{SERVER_ROUNDS} alternating runs)"
puts format("  plain                   %8.0f req/s  %s", plain, results[:plain].map(&:round).inspect)
puts format("  plugin :workerlife      %8.0f req/s  %s  %.1f%%", ours, results[:workerlife].map(&:round).inspect, 100 * ours / plain)
puts "  goal: <= 3 % lost"
