# frozen_string_literal: true

# The Puma plugin with a real Puma (Debian's) in cluster mode, 2 workers,
# started and stopped by each test.

require "minitest/autorun"
require "fileutils"
require_relative "harness"

class TestPuma < Minitest::Test
  def rotate(env)
    Harness.with_puma({ "WORKERLIFE_POLICY" => "max_requests=5" }.merge(env)) do |puma|
      # 20 requests a second: a recycled worker's replacement boots in the meantime.
      results = Array.new(60) { Harness.get(puma.port).tap { sleep 0.05 } }
      failed = results.reject { |r| r[:ok] }
      assert_empty failed, "#{failed.size} failed: #{failed.first(3)}\n#{puma.log[-3000..]}"
      pids = results.map { |r| r[:body] }.uniq
      assert_operator pids.size, :>=, 8, "#{pids.size} workers served 60 requests\n#{puma.log[-3000..]}"
      refute_match(/crash/, puma.log)
    end
  end

  def test_workers_rotate_every_5_requests_with_the_plugin_alone
    rotate({})
  end

  def test_workers_rotate_every_5_requests_with_the_apps_own_middleware_too
    rotate("APP_MIDDLEWARE" => "1")
  end

  def test_a_worker_leaking_1_mib_a_request_is_recycled_a_few_mib_past_max_rss
    Harness.with_puma("WORKERLIFE_POLICY" => "max_rss=120MiB,sample_interval=50ms") do |puma|
      results = []
      Harness.until_true(60, -> { "a memory_rss recycle\n#{puma.log[-2000..]}" }) do
        results << Harness.get(puma.port, "/leak")
        puma.lines("recycle_requested").grep(/reason=memory_rss/).first
      end
      line = puma.lines("recycle_requested").grep(/reason=memory_rss/).first
      mib = Integer(line[/rss=(\d+)/, 1]) / (1 << 20).to_f
      assert_operator mib, :>=, 120, line
      assert_operator mib, :<=, 128, line
      assert_empty results.reject { |r| r[:ok] }
    end
  end

  def test_a_request_holding_the_interpreter_lock_is_killed_at_request_timeout
    Harness.with_puma("WORKERLIFE_POLICY" => "request_timeout=1s") do |puma|
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      hung = Harness.get(puma.port, "/hang")
      took = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
      refute hung[:ok], "the hung request failed"
      assert_operator took, :<, 5, "ended after #{took}s"
      # By the worker's watchdog ("killing it") or by the master ("killed"),
      # whichever looked first.
      Harness.until_true(10, -> { "the kill to be logged\n#{puma.log[-2000..]}" }) do
        puma.log.lines.grep(/kill/).grep(/request_timeout/).first
      end
      results = Array.new(10) { Harness.get(puma.port) }
      assert_empty results.reject { |r| r[:ok] }
    end
  end
end
