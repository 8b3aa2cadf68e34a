# frozen_string_literal: true

# The Ruby binding's API: values normalised, bad input refused with the
# library's message and nothing changed, handles closed for good, the
# library's ABI checked at load.

require "minitest/autorun"
require "open3"
require "tmpdir"
require "workerlife"
require "workerlife/rack"

class TestApi < Minitest::Test
  def test_constants_and_names_come_from_the_library
    assert_equal 0, WorkerLife::WL_OK
    assert_equal 303, WorkerLife::WL_UNKNOWN_PID
    assert_equal WorkerLife::RESULTS.size, WorkerLife::RESULTS.values.uniq.size
    assert_includes WorkerLife::REASONS.values, :max_requests
    assert_includes WorkerLife::REASONS.values, :container_memory
    assert_match(/\A\d+\.\d+\.\d+\z/, WorkerLife::VERSION)
    assert_equal 1, WorkerLife::ABI_VERSION
  end

  def test_a_bad_policy_is_a_policy_error_naming_the_key_and_value
    e = assert_raises(WorkerLife::PolicyError) { WorkerLife::Policy.parse("max_requests=abc") }
    assert_equal "WL_INVALID_VALUE", e.code_name
    assert_match(/max_requests/, e.message)
    assert_match(/abc/, e.message)
    assert_kind_of WorkerLife::Error, e
    e = assert_raises(WorkerLife::PolicyError) { WorkerLife::Policy.parse("no_such_key=1") }
    assert_equal "WL_UNKNOWN_KEY", e.code_name
    assert_raises(WorkerLife::ArgumentError) { WorkerLife::Policy.parse("max_requests=1\0") }
    assert_raises(WorkerLife::ArgumentError) { WorkerLife::Policy.parse(42) }
    assert_equal "max_requests=10", WorkerLife::Policy.parse("max_requests=10").to_s
  end

  def test_no_reading_is_nil
    pool = WorkerLife::Pool.new("max_rss=10GiB", slots: 1, manual_clock: true)
    pool.spawned(0, Process.pid)
    w = pool.worker(0)
    assert_nil pool.stats["per_slot"][0]["rss"]
    w.report_health(rss: 11 << 30)
    d = pool.decision(0)
    assert_equal [:recycle, :memory_rss, 11 << 30, 10 << 30], [d.action, d.reason, d.value, d.limit]
    assert_equal "memory_rss: 11GiB >= 10GiB", d.text
    assert d.must_exit?
    assert_nil pool.next_spawn_in
    assert_nil WorkerLife::Pool.new("", slots: 1).decision(0).reason
  ensure
    w&.close
    pool&.close
  end

  def test_bad_numbers_are_refused_and_change_nothing
    pool = WorkerLife::Pool.new("", slots: 2, manual_clock: true)
    w = pool.worker(0)
    before = pool.stats_json
    [-1, 1.5, Float::NAN, 2**32, "1", nil].each do |bad|
      assert_raises(WorkerLife::ArgumentError, "pid #{bad.inspect}") { pool.spawned(1, bad) }
    end
    assert_raises(WorkerLife::ArgumentError) { pool.advance(Float::NAN) }
    assert_raises(WorkerLife::ArgumentError) { pool.advance(-1) }
    assert_raises(WorkerLife::ArgumentError) { w.report_health(rss: -1) }
    assert_raises(WorkerLife::ArgumentError) { w.report_health(rss: 2**64) }
    assert_raises(WorkerLife::ArgumentError) { w.report_health(rss: 0.5) }
    assert_equal before, pool.stats_json, "nothing was recorded"
    e = assert_raises(WorkerLife::PoolError) { pool.worker(2) }
    assert_equal "WL_SLOT_OUT_OF_RANGE", e.code_name
    e = assert_raises(WorkerLife::PoolError) { pool.exited(999_999, 0) }
    assert_equal "WL_UNKNOWN_PID", e.code_name
    assert_raises(WorkerLife::ArgumentError) { pool.exited(1, "x") }
  ensure
    w&.close
    pool&.close
  end

  def test_a_closed_handle_is_refused_and_closing_twice_is_harmless
    pool = WorkerLife::Pool.new("", slots: 1)
    w = pool.worker(0)
    w.close
    w.close
    e = assert_raises(WorkerLife::ArgumentError) { w.begin_request }
    assert_match(/closed/, e.message)
    pool.close
    assert_raises(WorkerLife::ArgumentError) { pool.tick }
  end

  def test_wait_statuses
    assert_equal 0, WorkerLife.wait_status(0)
    assert_equal 3 << 8, WorkerLife.wait_status(3)
    assert_equal 9, WorkerLife.wait_status(nil, "KILL")
    pool = WorkerLife::Pool.new("", slots: 1, manual_clock: true)
    pid = Process.spawn("sh", "-c", "kill -9 $$")
    pool.spawned(0, pid)
    Process.wait(pid)
    assert_equal 0, pool.exited(pid, $?)
    assert_equal 1, pool.stats["crashes"]
  ensure
    pool&.close
  end

  def test_kill_signals_only_the_process_the_identity_names
    e = assert_raises(WorkerLife::ProcessError) { WorkerLife.kill(Process.pid, "TERM", 12_345) }
    assert_equal "WL_IDENTITY_MISMATCH", e.code_name
    assert_raises(WorkerLife::ArgumentError) { WorkerLife.kill(Process.pid, "NOPE", 1) }
  end

  def test_named_pools
    Dir.mktmpdir("wl-ruby-api-") do |dir|
      file = File.join(dir, "p.pool")
      a = WorkerLife::Pool.create(file, "max_requests=7", 3)
      e = assert_raises(WorkerLife::SystemError) { WorkerLife::Pool.create(file, "", 3) }
      assert_match(/a live process holds/, e.message)
      b = WorkerLife::Pool.attach(file)
      assert_equal 3, b.slots
      b.close
      a.close
      refute File.exist?(file), "the maker's handle removes its file"
      c = WorkerLife::Pool.open(file, "", 2)
      assert c.remove_if_last
      c.close
      File.write(file, "not a pool")
      assert_raises(WorkerLife::PoolError) { WorkerLife::Pool.open(file, "", 2) }
      assert_equal "not a pool", File.read(file), "a foreign file is left as it is"
      assert_raises(WorkerLife::ArgumentError) { WorkerLife::Pool.attach("a\0b") }
    end
  end

  def test_a_library_that_cannot_be_loaded_is_a_clear_error
    lib = File.expand_path("../lib", __dir__)
    _out, err, st = Open3.capture3({ "WORKERLIFE_LIB" => "/nonexistent/libworkerlife.so" }, "ruby", "-I", lib, "-e", 'require "workerlife"')
    refute st.success?
    assert_match(/cannot load the library \(set WORKERLIFE_LIB\)/, err)
  end

  # A streamed body: not an Array, so the request ends when it is closed.
  class Streamed
    def each
      yield "ok"
    end
  end

  def test_the_rack_middleware_passes_through_outside_a_worker_and_counts_inside
    app = WorkerLife::Rack.new(->(env) { [200, {}, env["array"] ? ["ok"] : Streamed.new] })
    status, _h, body = app.call({})
    assert_equal 200, status
    assert_kind_of Streamed, body, "no worker: passed through"
    pool = WorkerLife::Pool.new("max_requests=10", slots: 1)
    pool.spawned(0, Process.pid)
    WorkerLife::Host.instance_variable_set(:@worker, pool.worker(0))
    env = {}
    _s, _h, b = app.call(env)
    assert env["workerlife.tracked"]
    assert_equal 0, WorkerLife::Host.worker.requests, "in flight until the body is closed"
    b.each { |chunk| assert_equal "ok", chunk }
    b.close
    b.close # ends once
    assert_equal 1, WorkerLife::Host.worker.requests
    _s, _h, b = app.call({ "array" => true })
    assert_equal ["ok"], b, "an Array body is returned as it is"
    assert_equal 2, WorkerLife::Host.worker.requests, "and its request ended at once"
    nested = WorkerLife::Rack.new(app)
    _s, _h, b = nested.call({})
    b.close
    assert_equal 3, WorkerLife::Host.worker.requests, "an inner middleware does not count again"
  ensure
    WorkerLife::Host.instance_variable_set(:@worker, nil)
    pool&.close
  end
end
