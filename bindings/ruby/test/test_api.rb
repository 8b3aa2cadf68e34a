# frozen_string_literal: true

# The Ruby binding's API: values normalised, bad input refused with the
# library's message and nothing changed, handles closed for good, the
# library's ABI checked at load.

require "minitest/autorun"
require "io/wait"
require "socket"
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
    assert_equal 2, WorkerLife::ABI_VERSION
  end

  def test_a_policy_gives_each_key_in_its_unit
    p = WorkerLife::Policy.parse("max_requests=1000,max_rss=300MiB,request_timeout=1500ms,container_memory=auto,max_surge=2")
    assert_equal 1000, p.get("max_requests")
    assert_equal 300 << 20, p.get(:max_rss)
    assert_in_delta 1.5, p.get("request_timeout"), 1e-9
    assert_equal "auto", p.get("container_memory")
    assert_equal 2, p.get("max_surge")
    assert_equal 0, p.get("max_lifetime"), "off"
    e = assert_raises(WorkerLife::ArgumentError) { p.get("max_rsss") }
    assert_match(/max_rsss/, e.message)
    assert_raises(WorkerLife::ArgumentError) { p.get(3) }
  ensure
    p&.close
  end

  # Every struct declared here is laid out as the library lays it out, and a
  # declaration with two fields of one size swapped (same size) is refused.
  def test_struct_layouts_are_checked_field_by_field
    WorkerLife::Native::STRUCTS.each { |name, type| WorkerLife::Native.check_layout(name, type) }
    swapped = Class.new(FFI::Struct) { layout :reason, :uint32, :action, :uint32, :value, :uint64, :limit, :uint64 }
    assert_equal WorkerLife::Native::Decision.size, swapped.size
    e = assert_raises(LoadError) { WorkerLife::Native.check_layout("wl_decision", swapped) }
    assert_match(/wl_decision\.reason is at offset 4 in the library, 0 here/, e.message)
    renamed = Class.new(FFI::Struct) { layout :action, :uint32, :why, :uint32, :value, :uint64, :limit, :uint64 }
    assert_raises(LoadError) { WorkerLife::Native.check_layout("wl_decision", renamed) }
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

  # max_rss=2x resolves against the parent's reading: none, and the rule
  # waits; one given (report_parent), and a worker past twice its RSS is
  # recycled, the limit in the decision and the stats; read_parent reads
  # this process. A bad argument is refused, naming it, with nothing kept.
  def test_a_limit_relative_to_the_parent_resolves_against_its_reading
    pool = WorkerLife::Pool.new("max_rss=2x", slots: 1, manual_clock: true)
    pool.spawned(0, Process.pid)
    w = pool.worker(0)
    w.report_health(rss: 300 << 20)
    assert_equal :continue, pool.decision(0).action, "no reading of the parent: the rule waits"
    assert_equal({ "setting" => "2x", "bytes" => nil }, pool.stats["memory_limits"]["max_rss"])
    before = pool.stats_json
    {
      "pid" => -> { pool.report_parent(-1, rss: 100 << 20) },
      "pid " => -> { pool.report_parent(2**32, rss: 100 << 20) },
      " pid" => -> { pool.report_parent(nil, rss: 100 << 20) },
      "rss" => -> { pool.report_parent(4021, rss: -1) },
      "rss " => -> { pool.report_parent(4021, rss: 2**64) },
      "uss" => -> { pool.report_parent(4021, uss: 0.5) },
      "pss" => -> { pool.report_parent(4021, pss: "1") },
    }.each do |what, call|
      e = assert_raises(WorkerLife::ArgumentError, what, &call)
      assert_equal "WL_INVALID_ARGUMENT", e.code_name
      assert_match(/\A#{what.strip} /, e.message, what)
    end
    assert_equal before, pool.stats_json, "nothing was kept"
    pool.report_parent(4021, rss: 100 << 20)
    st = pool.stats
    assert_equal 200 << 20, st["memory_limits"]["max_rss"]["bytes"]
    assert_equal [4021, 100 << 20, nil], st["parent"].values_at("pid", "rss_bytes", "uss_bytes")
    w.report_health(rss: (200 << 20) - 1)
    assert_equal :continue, pool.decision(0).action
    w.report_health(rss: 200 << 20)
    d = pool.decision(0)
    assert_equal [:recycle, :memory_rss, 200 << 20, 200 << 20], [d.action, d.reason, d.value, d.limit]
    assert_equal [[0, :memory_rss]], pool.tick.map { |a| [a.slot, a.reason] }
    read = pool.read_parent
    assert_operator read[:rss], :>, 0
    st = pool.stats
    assert_equal [Process.pid, read[:rss]], st["parent"].values_at("pid", "rss_bytes")
    assert_equal 2 * read[:rss], st["memory_limits"]["max_rss"]["bytes"]
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

  # Numbers past what the C types hold are this binding's ArgumentError,
  # naming the argument, before the call: never Ruby's RangeError.
  def test_numbers_past_the_c_types_are_the_bindings_argument_error
    pool = WorkerLife::Pool.new("", slots: 2, manual_clock: true)
    w = pool.worker(0)
    before = pool.stats_json
    {
      "seconds" => -> { pool.advance(1e300) },
      "status" => -> { pool.exited(1, 2**40) },
      "wait status" => -> { pool.exited_slot(0, -(2**40)) },
      "signal" => -> { WorkerLife.kill(Process.pid, 2**40, 1) },
      "identity" => -> { WorkerLife.kill(Process.pid, 0, 2**64) },
      "recycle_signal" => -> { w.watchdog(recycle_signal: 2**33) },
      "interval_ms" => -> { w.watchdog(interval_ms: 2**32) },
      "workers" => -> { WorkerLife.host_slots(2**32, "", []) },
      "pid" => -> { pool.adopt_all([Process.pid, 2**32]) },
      "exit code" => -> { WorkerLife.wait_status(2**64) },
    }.each do |what, call|
      e = assert_raises(WorkerLife::ArgumentError, what, &call)
      assert_equal "WL_INVALID_ARGUMENT", e.code_name
      assert_match(/#{Regexp.escape(what.split.last)}/, e.message, what)
    end
    assert_raises(WorkerLife::ArgumentError) { pool.advance(Complex(1, 1)) }
    assert_raises(WorkerLife::ArgumentError) { WorkerLife.kill(Process.pid, 10.5, 1) }
    assert_equal before, pool.stats_json, "nothing was recorded"
  ensure
    w&.close
    pool&.close
  end

  def test_a_rule_the_host_cannot_carry_out_is_refused_naming_key_and_host
    caps = %i[master_kills watchdog_kills concurrent]
    pool = WorkerLife::Pool.new("heartbeat_timeout=2s,max_requests=5", slots: 4)
    e = assert_raises(WorkerLife::PolicyError) { pool.set_host("Puma cluster", caps) }
    assert_equal "WL_NOT_FOR_HOST", e.code_name
    assert_equal WorkerLife::WL_NOT_FOR_HOST, e.code
    assert_match(/\Aheartbeat_timeout=2s: Puma cluster sends no heartbeat/, e.message)
    assert_match(/for this host/, pool.startup_line, "a refusal records nothing")
    pool.set_host("Puma cluster", caps + [:heartbeat])
    e = assert_raises(WorkerLife::PolicyError) { WorkerLife.check_host("max_surge=1", "Puma cluster", caps) }
    assert_match(/\Amax_surge=1: Puma cluster cannot start a replacement/, e.message)
    e = assert_raises(WorkerLife::PolicyError) { WorkerLife.check_host("request_timeout=1s", "bare", []) }
    assert_match(/\Arequest_timeout=1s: bare has no master and no watchdog/, e.message)
    WorkerLife.check_host("request_timeout=1s", "Unicorn", %i[watchdog_kills])
    e = assert_raises(WorkerLife::ArgumentError) { pool.set_host("Puma", %i[master_kills telepathy]) }
    assert_match(/unknown host capability :telepathy/, e.message)
    assert_raises(WorkerLife::ArgumentError) { pool.set_host("Puma", :master_kills) }
    assert_raises(WorkerLife::ArgumentError) { pool.set_host("", []) }
    assert_raises(WorkerLife::ArgumentError) { pool.set_host("a\0b", []) }
  ensure
    pool&.close
  end

  def test_the_pool_size_rule_and_the_startup_line_are_the_librarys
    assert_equal 12, WorkerLife.host_slots(2, "", %i[master_kills])
    assert_equal 13, WorkerLife.host_slots(2, "max_surge=1", %i[surge])
    assert_equal 3, WorkerLife.host_slots(2, WorkerLife::Policy.parse("max_surge=1"), %i[numbered surge])
    pool = WorkerLife::Pool.new("max_requests=5", slots: 12)
    pool.set_host("Puma cluster", %i[master_kills watchdog_kills concurrent])
    assert_equal "workerlife on for Puma cluster: policy max_requests=5, 12 slots; the host has concurrent requests, " \
                 "master kills, watchdog kills; refused here: heartbeat_timeout (no heartbeat), " \
                 "request_timeout (requests timed together), max_surge (cannot start a replacement)", pool.startup_line
  ensure
    pool&.close
  end

  # A host that runs requests at once with a ticket for each may use
  # request_timeout; without tickets it is refused, naming the way out.
  def test_tickets_is_a_host_capability
    caps = %i[master_kills watchdog_kills concurrent]
    e = assert_raises(WorkerLife::PolicyError) { WorkerLife.check_host("request_timeout=1s", "Puma cluster", caps) }
    assert_match(/\Arequest_timeout=1s: Puma cluster runs several requests at once/, e.message)
    assert_match(/begin_ticket/, e.message)
    WorkerLife.check_host("request_timeout=1s", "Puma cluster", caps + [:tickets])
    assert_equal WorkerLife.capabilities(caps) | (1 << 7), WorkerLife.capabilities(caps + ["tickets"])
    pool = WorkerLife::Pool.new("request_timeout=1s", slots: 4)
    pool.set_host("Puma cluster", caps + [:tickets])
    assert_match(/the host has concurrent requests, master kills, watchdog kills, times each request; /, pool.startup_line)
  ensure
    pool&.close
  end

  def test_a_ticket_times_its_request_apart_from_those_that_keep_ending
    pool = WorkerLife::Pool.new("request_timeout=5s", slots: 1, manual_clock: true)
    pool.spawned(0, Process.pid)
    w = pool.worker(0)
    stuck = w.begin_ticket
    assert_kind_of Integer, stuck
    assert_equal 0, stuck & WorkerLife::TICKET_LAST
    assert_operator stuck, :<, 1 << 53
    4.times do
      t = w.begin_ticket
      pool.advance(1)
      refute w.end_ticket(t)
    end
    assert_equal :continue, pool.decision(0).action
    assert_equal [], w.overdue
    pool.advance(1)
    d = pool.decision(0)
    assert_equal [:kill, :request_timeout], [d.action, d.reason]
    assert_equal [stuck], w.overdue
    refute w.end_ticket(stuck)
    assert_equal [], w.overdue
    assert_equal 5, w.requests
  ensure
    w&.close
    pool&.close
  end

  def test_the_ticket_that_reaches_max_requests_carries_the_last_bit
    assert_equal 1 << 52, WorkerLife::TICKET_LAST
    assert_equal 16, WorkerLife::TICKETS
    assert_equal WorkerLife::TICKET_LAST, WorkerLife::Native.constant("WL_TICKET_LAST")
    assert_raises(LoadError) { WorkerLife::Native.constant("WL_NOPE") }
    pool = WorkerLife::Pool.new("max_requests=2", slots: 1, manual_clock: true)
    pool.spawned(0, Process.pid)
    w = pool.worker(0)
    a = w.begin_ticket
    assert_equal 0, a & WorkerLife::TICKET_LAST
    refute w.end_ticket(a)
    b = w.begin_ticket
    assert_equal WorkerLife::TICKET_LAST, b & WorkerLife::TICKET_LAST
    assert w.end_ticket(b), "the last request: exit after it"
    assert_equal :recycle, pool.decision(0).action
  ensure
    w&.close
    pool&.close
  end

  # Bad tickets raise the binding's errors (never the ffi gem's RangeError
  # or a crash) and change nothing.
  def test_bad_tickets_are_refused_and_change_nothing
    pool = WorkerLife::Pool.new("request_timeout=5s", slots: 2, manual_clock: true)
    pool.spawned(0, Process.pid)
    w = pool.worker(0)
    other = pool.worker(1)
    t = w.begin_ticket
    before = pool.stats_json
    [nil, "1", 1.5, Float::NAN, -1, 2**64, :t].each do |bad|
      e = assert_raises(WorkerLife::ArgumentError, bad.inspect) { w.end_ticket(bad) }
      assert_equal "WL_INVALID_ARGUMENT", e.code_name
      assert_match(/a ticket/, e.message)
    end
    [0, 1, (1 << 53) - 1, 2**63, 2**64 - 1, t + 1].each do |bad|
      e = assert_raises(WorkerLife::PoolError, bad.to_s) { w.end_ticket(bad) }
      assert_equal WorkerLife::WL_BAD_TICKET, e.code
      assert_match(/ticket #{bad} is not a request in flight in this worker/, e.message)
    end
    e = assert_raises(WorkerLife::PoolError) { other.end_ticket(t) }
    assert_equal "WL_BAD_TICKET", e.code_name
    assert_equal before, pool.stats_json, "nothing was recorded"
    refute w.end_ticket(t | WorkerLife::TICKET_LAST), "the LAST bit is ignored"
    e = assert_raises(WorkerLife::PoolError) { w.end_ticket(t) }
    assert_equal "WL_BAD_TICKET", e.code_name, "ended twice"
    assert_equal 1, w.requests, "counted once"
    w.close
    assert_raises(WorkerLife::ArgumentError) { w.begin_ticket }
    assert_raises(WorkerLife::ArgumentError) { w.end_ticket(t) }
    assert_raises(WorkerLife::ArgumentError) { w.overdue }
  ensure
    w&.close
    other&.close
    pool&.close
  end

  def test_round_errors_are_logged_once_then_counted
    pool = WorkerLife::Pool.new("", slots: 1)
    lines = Array.new(100) { pool.round_error("adopting: boom") }
    assert_equal ["adopting: boom", "adopting: boom (seen 10 times)", "adopting: boom (seen 100 times)"], lines.compact
    assert_nil lines[1]
    assert_equal "other", pool.round_error("other")
    assert_raises(WorkerLife::ArgumentError) { pool.round_error(nil) }
    assert_raises(WorkerLife::ArgumentError) { pool.round_error("a\0b") }
  ensure
    pool&.close
  end

  def test_stats_text_in_one_call
    pool = WorkerLife::Pool.new("", slots: 3, manual_clock: true)
    pool.spawned(1, Process.pid)
    assert_equal 3, pool.stats["per_slot"].size
    assert_equal [1], pool.stats(occupied: true)["per_slot"].map { |s| s["slot"] }
    assert_equal 3, JSON.parse(pool.stats_json)["slots"]
    assert_match(/^workerlife_recycles_total\{reason="max_requests"\} 0$/, pool.prometheus)
    assert_equal Encoding::UTF_8, pool.prometheus.encoding
  ensure
    pool&.close
  end

  def test_events_carry_the_librarys_line_and_severity
    pool = WorkerLife::Pool.new("max_requests=2,max_rss=100MiB", slots: 2, manual_clock: true)
    pool.spawned(0, Process.pid)
    w = pool.worker(0)
    2.times do
      w.begin_request
      w.end_request
    end
    pool.tick
    spawned, recycle = pool.events
    assert_equal :spawned, spawned.kind
    assert_equal :info, spawned.severity
    assert_match(/\Aspawned slot=0 pid=#{Process.pid} gen=1 uptime=0\.000s requests=0\z/, spawned.line)
    assert_equal :recycle_requested, recycle.kind
    assert_equal "recycle_requested slot=0 pid=#{Process.pid} gen=1 reason=max_requests (2 >= 2) uptime=0.000s requests=2",
                 recycle.line
    assert_equal recycle.line, recycle.to_s
    assert_equal [2, 2], [recycle.value, recycle.limit]
    assert_nil spawned.value
  ensure
    w&.close
    pool&.close
  end

  # enforce is text (which rules act); a rule rehearsed gives a continue
  # with its reason and figures (would?), the master files it once per
  # generation as would_recycle (info) or would_kill (warning), and the
  # stats count it.
  def test_a_dress_rehearsal_decides_and_acts_on_nothing
    assert_equal "all", WorkerLife::Policy.parse("").get("enforce")
    assert_equal "off", WorkerLife::Policy.parse("enforce=off").get(:enforce)
    assert_equal "memory_rss+max_requests", WorkerLife::Policy.parse("enforce=max_rss+max_requests").get("enforce")
    assert_includes WorkerLife::EVENT_KINDS.values, :would_recycle
    assert_includes WorkerLife::EVENT_KINDS.values, :would_kill
    pool = WorkerLife::Pool.new("max_requests=3,request_timeout=1s,enforce=off", slots: 1, manual_clock: true)
    pool.spawned(0, Process.pid)
    w = pool.worker(0)
    3.times do
      refute w.begin_request, "no last request: nothing is enforced"
      refute w.end_request, "max_requests is rehearsed: the worker serves on"
    end
    d = pool.decision(0)
    assert_equal [:continue, :max_requests, 3, 3], [d.action, d.reason, d.value, d.limit]
    assert d.would?
    refute d.must_exit?
    assert_equal "continue (would recycle: max_requests: 3 >= 3)", d.text
    assert_empty pool.tick
    assert_equal [[:spawned, :info], [:would_recycle, :info]], pool.events.map { |e| [e.kind, e.severity] }
    w.begin_request
    pool.advance(2)
    d = w.decision
    assert_equal [:continue, :request_timeout], [d.action, d.reason]
    assert d.would?
    assert_empty w.overdue, "a rehearsed request_timeout cancels nothing"
    assert_empty pool.tick
    kill = pool.events.first
    assert_equal [:would_kill, :warning, :request_timeout], [kill.kind, kill.severity, kill.reason]
    assert_match(/\Awould_kill slot=0 pid=#{Process.pid} gen=1 reason=request_timeout \(2s >= 1s\) /, kill.line)
    assert_empty pool.events, "once per generation and reason"
    stats = pool.stats
    assert_equal "off", stats["enforce"]
    assert_equal [1, 1], stats["would"].values_at("max_requests", "request_timeout")
    assert_equal %w[max_requests request_timeout], stats["per_slot"][0]["would"].sort
    assert_match(/^workerlife_would_recycle_total\{reason="max_requests"\} 1$/, pool.prometheus)
    assert_match(/^workerlife_would_kill_total\{reason="request_timeout"\} 1$/, pool.prometheus)
    refute WorkerLife::Pool.new("", slots: 1).decision(0).would?
  ensure
    w&.close
    pool&.close
  end

  def test_adopt_all_takes_the_children_and_refuses_the_others_after
    pool = WorkerLife::Pool.new("", slots: 4)
    child = Process.spawn("sleep", "30")
    assert_equal 1, pool.adopt_all([child])
    assert_equal 0, pool.adopt_all([child]), "known already"
    assert_equal 0, pool.adopt_all([])
    e = assert_raises(WorkerLife::ProcessError) { pool.adopt_all([1, child]) }
    assert_equal "WL_NOT_A_CHILD", e.code_name
    assert_match(/pid 1 is not a child/, e.message)
    assert_raises(WorkerLife::ArgumentError) { pool.adopt_all(child) }
    assert_raises(WorkerLife::ArgumentError) { pool.adopt_all([-1]) }
  ensure
    if child
      Process.kill("KILL", child)
      Process.wait(child)
    end
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

  def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # One GET over a plain socket: the whole answer (the server closes after
  # it), within 5 s.
  def http_get(port, path)
    deadline = now + 5
    sock = TCPSocket.new("127.0.0.1", port)
    sock.write("GET #{path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    answer = +""
    loop do
      left = deadline - now
      raise "no whole answer from port #{port} in 5 s: #{answer.inspect}" if left <= 0 || !sock.wait_readable(left)

      chunk = sock.read_nonblock(1 << 16, exception: false)
      return answer if chunk.nil?

      answer << chunk if chunk.is_a?(String)
    end
  ensure
    sock&.close
  end

  def refused?(port)
    TCPSocket.new("127.0.0.1", port).close
    false
  rescue Errno::ECONNREFUSED
    true
  end

  def test_the_stats_endpoint_serves_the_pool_until_stopped
    pool = WorkerLife::Pool.new("max_requests=3", slots: 2)
    m = pool.serve_metrics("127.0.0.1:0")
    port = m.port
    assert_operator port, :>, 0
    answer = http_get(port, "/metrics")
    assert_match(%r{\AHTTP/1\.1 200 }, answer)
    assert_match(/^workerlife_workers\{state="vacant"\} 2$/, answer)
    assert_match(/"per_slot":/, http_get(port, "/stats"))
    m.stop
    assert m.closed?
    assert refused?(port), "the port is closed once stopped"
    m.stop # again: nothing
    m.close
    assert_raises(WorkerLife::ArgumentError) { m.port }
  ensure
    m&.stop
    pool&.close
  end

  def test_an_address_that_cannot_be_served_raises_naming_it
    pool = WorkerLife::Pool.new("", slots: 1)
    ["127.0.0.1:99999", "no-port", "no-such-host.invalid:9100"].each do |bad|
      e = assert_raises(WorkerLife::ArgumentError, bad) { pool.serve_metrics(bad) }
      assert_equal "WL_INVALID_ARGUMENT", e.code_name
      assert_includes e.message, bad
    end
    assert_raises(WorkerLife::ArgumentError) { pool.serve_metrics(9100) }
    assert_raises(WorkerLife::ArgumentError) { pool.serve_metrics("127.0.0.1:0\0") }
    taken = TCPServer.new("127.0.0.1", 0)
    at = "127.0.0.1:#{taken.addr[1]}"
    e = assert_raises(WorkerLife::SystemError) { pool.serve_metrics(at) }
    assert_equal "WL_IO", e.code_name
    assert_includes e.message, at
    assert_match(/in use/, e.message)
    # A port its own other server holds is taken too.
    m = pool.serve_metrics("127.0.0.1:0")
    e = assert_raises(WorkerLife::SystemError) { pool.serve_metrics("127.0.0.1:#{m.port}") }
    assert_includes e.message, "127.0.0.1:#{m.port}"
  ensure
    taken&.close
    m&.stop
    pool&.close
  end

  # A child forked after the server started holds none of its sockets: once
  # the parent stops, the port refuses though the child lives on.
  def test_a_forked_child_holds_no_socket_of_the_server
    pool = WorkerLife::Pool.new("", slots: 1)
    m = pool.serve_metrics("127.0.0.1:0")
    port = m.port
    r, w = IO.pipe
    child = fork do
      w.close
      r.read # until the parent closes its end
      exit!(0)
    end
    r.close
    m.stop
    assert refused?(port), "the child kept the listener"
  ensure
    w&.close
    if child
      Process.kill("KILL", child)
      Process.wait(child)
    end
    m&.stop
    pool&.close
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

  # The middleware acts on the worker's end of a request alone: a rule
  # rehearsed (enforce=off) never makes it leave, one enforced does.
  def test_the_rack_middleware_never_leaves_for_a_rule_rehearsed
    app = WorkerLife::Rack.new(->(_env) { [200, {}, ["ok"]] })
    left = []
    # Host.leave! wakes the watchdog: a stand-in notes the requests served then.
    watchdog = Object.new
    watchdog.define_singleton_method(:wake) { left << WorkerLife::Host.worker.requests }
    WorkerLife::Host.instance_variable_set(:@watchdog, watchdog)
    ["max_requests=2,enforce=off", "max_requests=2"].each do |spec|
      pool = WorkerLife::Pool.new(spec, slots: 1)
      pool.spawned(0, Process.pid)
      WorkerLife::Host.instance_variable_set(:@worker, pool.worker(0))
      left.clear
      4.times { app.call({}) }
      if spec.include?("off")
        assert_empty left, spec
      else
        # Told to leave from the 2nd request's begin on (its ticket's LAST bit).
        assert_equal 1, left.min, spec
      end
      assert_equal 4, WorkerLife::Host.worker.requests
      assert_equal spec.include?("off"), pool.decision(0).would?, spec
      WorkerLife::Host.worker.close
      pool.close
    end
  ensure
    WorkerLife::Host.instance_variable_set(:@watchdog, nil)
    WorkerLife::Host.instance_variable_set(:@worker, nil)
  end

  class Boom < StandardError; end

  # Each request holds a ticket: a streamed response still being written is
  # timed on its own while others come and go, and every way out of the app
  # (an Array, a body closed later, closed twice, a raise, no response at
  # all) ends its ticket exactly once.
  def test_the_rack_middleware_times_each_request_on_its_own_ticket
    app = WorkerLife::Rack.new(lambda do |env|
      raise Boom, "app failed" if env["raise"]
      next nil if env["nil"]

      [200, {}, env["array"] ? ["ok"] : Streamed.new]
    end)
    pool = WorkerLife::Pool.new("request_timeout=5s", slots: 1, manual_clock: true)
    pool.spawned(0, Process.pid)
    w = pool.worker(0)
    WorkerLife::Host.instance_variable_set(:@worker, w)
    _s, _h, slow = app.call({})
    4.times do
      assert_raises(Boom) { app.call({ "raise" => true }) }
      assert_raises(NoMethodError) { app.call({ "nil" => true }) }
      _s, _h, b = app.call({})
      b.close
      b.close
      app.call({ "array" => true })
      pool.advance(1)
    end
    assert_equal 16, w.requests, "every request but the slow one ended, once"
    assert_equal :continue, pool.decision(0).action
    pool.advance(1)
    d = pool.decision(0)
    assert_equal [:kill, :request_timeout], [d.action, d.reason], "the slow one is timed on its own"
    assert_equal 1, w.overdue.size
    slow.close
    assert_equal [], w.overdue
    assert_equal 17, w.requests
    assert_equal :continue, pool.decision(0).action
  ensure
    WorkerLife::Host.instance_variable_set(:@worker, nil)
    w&.close
    pool&.close
  end
end
