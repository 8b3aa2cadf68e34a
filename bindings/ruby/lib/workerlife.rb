# frozen_string_literal: true

require "json"
require_relative "workerlife/native"

# workerlife for Ruby: Policy, Pool, Worker, Watchdog and MetricsServer over the C ABI
# (the ffi gem), values normalised (no reading -> nil), constants and names
# read from the library, one exception class per result family.
module WorkerLife
  N = Native
  private_constant :N

  # The top three uint64s: "no reading" and its neighbours.
  NO_READING_FLOOR = (1 << 64) - 3
  U64_MAX = (1 << 64) - 1
  NO_SLOT = 0xffff_ffff

  # Set in a ticket (Worker#begin_ticket) whose request should be the
  # worker's last; Worker#end_ticket ignores it.
  TICKET_LAST = N::TICKET_LAST
  # Requests a worker's slot times at once (more are counted, not timed).
  TICKETS = N::TICKETS

  VERSION = N.wl_version
  ABI_VERSION = N.wl_abi_version

  # Every result code by its header name: { "WL_OK" => 0, "WL_UNKNOWN_PID" => 303, ... }.
  RESULTS = (0...1000).each_with_object({}) do |i, h|
    name = N.wl_result_name(i)
    h[name] = i if name
  end.freeze
  RESULTS.each { |name, code| const_set(name, code) }

  def self.names(limit = 256)
    (0...limit).each_with_object({}) do |i, h|
      n = yield(i)
      h[i] = n.to_sym if n
    end.freeze
  end
  private_class_method :names

  REASONS = names { |i| N.wl_reason_name(i) }
  ACTIONS = names { |i| N.wl_action_name(i) }
  ACTION_KINDS = names { |i| N.wl_pool_action_kind_name(i) }
  EVENT_KINDS = names { |i| N.wl_event_kind_name(i) }
  KEYS = names { |i| N.wl_key_name(i) }
  UNITS = names { |i| N.wl_unit_name(i) }

  # Base of every error the library reports: #code (the wl_result), #code_name.
  class Error < StandardError
    attr_reader :code, :code_name

    def initialize(code, message)
      super(message)
      @code = code
      @code_name = N.wl_result_name(code) || "wl_result #{code}"
    end
  end
  # 1xx: a bad argument or handle (NULL, freed, out of range, bad UTF-8).
  class ArgumentError < Error; end
  # 2xx: an unknown policy key or a bad value.
  class PolicyError < Error; end
  # 3xx: a pool, slot or pool-file problem.
  class PoolError < Error; end
  # 4xx: a process that is gone, reused or not ours.
  class ProcessError < Error; end
  # 5xx: the system refused, or the platform lacks what the call needs.
  class SystemError < Error; end
  # 9xx: a bug in workerlife, caught at its boundary.
  class InternalError < Error; end

  FAMILIES = { 1 => ArgumentError, 2 => PolicyError, 3 => PoolError, 4 => ProcessError, 5 => SystemError }.freeze

  # Raises for any result but WL_OK, with the calling thread's last message.
  def self.check(code)
    return if code.zero?

    family = FAMILIES.fetch(code / 100, InternalError)
    raise family.new(code, N.wl_last_error_text.to_s.empty? ? N.wl_result_name(code).to_s : N.wl_last_error_text)
  end

  def self.bad(message)
    ArgumentError.new(WL_INVALID_ARGUMENT, message)
  end

  # A uint64 from the library: nil for "no reading".
  def self.u64(v)
    v >= NO_READING_FLOOR ? nil : v
  end

  # An Integer in [min, max] for the library, checked here so that a bad
  # number is this binding's ArgumentError (never the ffi gem's RangeError
  # or TypeError), with nothing sent.
  def self.to_int(name, v, min, max)
    raise bad("#{name} must be an Integer, not #{v.inspect}") unless v.is_a?(Integer)
    raise bad("#{name} is out of range [#{min}, #{max}]: #{v}") if v < min || v > max

    v
  end

  # A reading for the library: nil (none) or an Integer in [0, 2^64 - 3).
  def self.to_u64(name, v)
    return U64_MAX if v.nil?

    to_int(name, v, 0, NO_READING_FLOOR - 1)
  end

  def self.to_u32(name, v) = to_int(name, v, 0, NO_SLOT)

  # A wait status (Process::Status or an Integer that fits a C int).
  def self.to_status(status)
    st = status.is_a?(Process::Status) ? status.to_i : status
    to_int("a wait status", st, -(1 << 31), (1 << 31) - 1)
  end

  # A signal by number, name or Symbol ("TERM", :SIGTERM, 15); nil for none
  # when `none` allows it.
  def self.to_signal(name, signal, none: false)
    return 0 if none && signal.nil?

    n = if signal.is_a?(Integer)
          signal
        elsif signal.is_a?(String) || signal.is_a?(Symbol)
          Signal.list[signal.to_s.delete_prefix("SIG")]
        end
    raise bad("#{name}: unknown signal #{signal.inspect}") unless n

    to_int(name, n, 0, 64)
  end

  def self.to_str(name, v)
    raise bad("#{name} must be a String, not #{v.class}") unless v.is_a?(String)
    raise bad("#{name} cannot hold a NUL") if v.include?("\0")

    v
  end

  # A string the library allocates (wl_pool_stats_text, startup_line,
  # round_error) through its one char** out-parameter: nil for NULL; freed
  # with wl_string_free whatever happens.
  def self.owned_string
    p = FFI::MemoryPointer.new(:pointer) # zeroed: NULL until written
    begin
      check(yield(p))
      s = p.read_pointer
      s.null? ? nil : s.read_string.force_encoding(Encoding::UTF_8)
    ensure
      N.wl_string_free(p.read_pointer)
    end
  end

  # A string of the library through its size-query-then-fill convention.
  def self.text
    needed = FFI::MemoryPointer.new(:size_t)
    first = yield(nil, 0, needed)
    check(first) unless first.zero? || first == WL_BUFFER_TOO_SMALL
    buf = FFI::MemoryPointer.new(:char, needed.read(:size_t))
    check(yield(buf, buf.size, needed))
    buf.read_string.force_encoding(Encoding::UTF_8)
  end

  # The answer a call writes through its one out-parameter of `type` (a
  # handle for :pointer), read back once the call succeeded; else raises.
  def self.out(type)
    p = FFI::MemoryPointer.new(type)
    check(yield(p))
    type == :pointer ? p.read_pointer : p.read(type)
  end

  # A decision: action, reason (nil for none), value, limit, text, must_exit?,
  # would?. A rule the policy does not enforce (`enforce`) that tripped
  # gives :continue with its reason, value and limit: #would? is true, the
  # worker serves on, and the text says what would have been done
  # ("continue (would recycle: max_requests: 5 >= 5)").
  Decision = Struct.new(:action, :reason, :value, :limit, :text, keyword_init: true) do
    def must_exit?
      action != :continue
    end

    # A rule rehearsed (`enforce`) tripped: nothing is to be done for it.
    def would?
      action == :continue && !reason.nil?
    end

    def to_s
      text
    end
  end

  def self.decision_of(d)
    Decision.new(action: ACTIONS.fetch(d[:action]), reason: REASONS[d[:reason]], value: u64(d[:value]),
                 limit: u64(d[:limit]), text: N.wl_decision_string(d)).freeze
  end

  # The wait status of a child as Process::Status#to_i gives it; or from (code, signal).
  def self.wait_status(code, signal = nil)
    return to_signal("signal", signal) & 0x7f if signal

    (to_int("an exit code", code, 0, 255) & 0xff) << 8
  end

  # The host contract: a host declares what it can carry out as capability
  # names (:heartbeat, :surge, :cancel, :concurrent, :master_kills,
  # :watchdog_kills, :numbered, :tickets), whose bits are read from the
  # library.
  def self.capabilities(caps)
    raise bad("host capabilities are an Array of names, not #{caps.inspect}") unless caps.is_a?(Array)

    caps.reduce(0) do |bits, c|
      raise bad("a host capability is a Symbol, not #{c.inspect}") unless c.is_a?(Symbol) || c.is_a?(String)

      bit = N.wl_host_capability(c.to_s)
      raise bad("unknown host capability #{c.inspect}") if bit.zero?

      bits | bit
    end
  end

  # Checks `policy` against what the host `name` can carry out, before any
  # pool is made: a rule it cannot is a PolicyError (WL_NOT_FOR_HOST)
  # naming the key, the host and what to do instead.
  def self.check_host(policy, name, caps)
    bits = capabilities(caps)
    to_str("a host name", name)
    Policy.with(policy) { |p| check(N.wl_policy_check_host(p.ptr, name, bits)) }
  end

  # How many slots a pool for `workers` workers of a host with `caps` needs
  # under `policy` (the library's rule).
  def self.host_slots(workers, policy, caps)
    bits = capabilities(caps)
    workers = to_u32("workers", workers)
    Policy.with(policy) { |p| out(:uint32) { |n| N.wl_host_slots(bits, workers, p.ptr, n) } }
  end

  SEVERITIES = { 1 => :info, 2 => :warning, 3 => :error }.freeze

  # Owns one library handle: freed by #close, or when collected.
  class Handle
    def initialize(ptr, free)
      @ptr = FFI::AutoPointer.new(ptr, N.method(free))
    end

    def ptr
      raise WorkerLife.bad("this #{self.class.name} is closed") if @ptr.nil?

      @ptr
    end

    def close
      return if @ptr.nil?

      p = @ptr
      @ptr = nil
      p.free
    end

    def closed?
      @ptr.nil?
    end

    private

    # Ends the handle through `free` (which may differ from what the
    # collector would call), raising on its error; a second call does nothing.
    def release_with(free)
      return if closed?

      p = @ptr
      @ptr = nil
      p.autorelease = false
      WorkerLife.check(N.public_send(free, p))
    end
  end

  # A parsed policy spec ("max_requests=1000,max_rss=300MiB").
  class Policy < Handle
    def self.parse(spec = "")
      WorkerLife.to_str("a policy spec", spec)
      new(WorkerLife.out(:pointer) { |out| N.wl_policy_parse(spec, out) }, :wl_policy_free)
    end

    def self.with(policy)
      return yield(policy) if policy.is_a?(Policy)

      p = parse(policy || "")
      begin
        yield p
      ensure
        p.close
      end
    end

    def to_s
      WorkerLife.text { |b, n, need| N.wl_policy_to_string(ptr, b, n, need) }
    end

    # A key's value (key: a String or Symbol): seconds (a Float) for
    # durations, bytes or a count (an Integer) otherwise, 0 when off; a value
    # the spec writes as a word ("auto", "10%") as that String. An unknown
    # key is an ArgumentError.
    def get(key)
      k = (key.is_a?(String) || key.is_a?(Symbol)) && KEYS.key(key.to_sym)
      raise WorkerLife.bad("key must be a policy key name, not #{key.inspect}") unless k

      raw = WorkerLife.out(:uint64) { |v| N.wl_policy_get_raw(ptr, k, v) }
      return WorkerLife.text { |b, n, need| N.wl_key_format_value(k, raw, b, n, need) } unless N.wl_key_is_number(k, raw)

      UNITS[N.wl_key_unit(k)] == :microseconds ? raw / 1_000_000.0 : raw
    end
  end

  # A pool of worker slots: the master's side (spawned, tick, exited...)
  # and the workers' (worker, claim).
  class Pool < Handle
    # options: slots (default 64), shared (true: before fork), manual_clock, seed.
    def self.new(policy = "", slots: 64, shared: false, manual_clock: false, seed: nil)
      opts = N::PoolOptions.new
      opts[:slots] = WorkerLife.to_u32("slots", slots)
      opts[:sharing] = shared ? 1 : 0
      opts[:manual_clock] = manual_clock
      opts[:has_seed] = !seed.nil?
      opts[:seed] = seed.nil? ? 0 : WorkerLife.to_u64("seed", seed)
      wrap(WorkerLife.out(:pointer) { |out| Policy.with(policy) { |p| N.wl_pool_build(p.ptr, opts, out) } })
    end

    def self.wrap(ptr)
      pool = allocate
      pool.send(:initialize_handle, ptr)
      pool
    end

    # A named pool file at `path` (mode 0600): refused if a live process holds one there.
    def self.create(path, policy = "", slots = 64)
      named(:wl_pool_create, path, policy, slots)
    end

    # create, or replace a file no live process holds (a master that was killed).
    def self.open(path, policy = "", slots = 64)
      named(:wl_pool_open, path, policy, slots)
    end

    def self.attach(path)
      wrap(WorkerLife.out(:pointer) { |out| N.wl_pool_attach(WorkerLife.to_str("path", path), out) })
    end

    def self.named(fn, path, policy, slots)
      WorkerLife.to_str("path", path)
      slots = WorkerLife.to_u32("slots", slots)
      wrap(WorkerLife.out(:pointer) { |out| Policy.with(policy) { |p| N.send(fn, path, p.ptr, slots, out) } })
    end
    private_class_method :named

    def remove_if_last
      WorkerLife.out(:bool) { |removed| N.wl_pool_remove_if_last(ptr, removed) }
    end

    def slots
      WorkerLife.out(:uint32) { |n| N.wl_pool_slot_count(ptr, n) }
    end

    def worker(slot)
      slot = WorkerLife.to_u32("slot", slot)
      Worker.new(WorkerLife.out(:pointer) { |out| N.wl_pool_worker(ptr, slot, out) }, :wl_worker_free)
    end

    # In a worker: the slot the master recorded (or adopted) for `pid`.
    def claim(pid = Process.pid)
      pid = WorkerLife.to_u32("pid", pid)
      Worker.new(WorkerLife.out(:pointer) { |out| N.wl_pool_claim(ptr, pid, out) }, :wl_worker_free)
    end

    # The host named `name` declares what it can carry out (`caps`, names as
    # for WorkerLife.capabilities): a rule of the pool's policy it cannot is
    # a PolicyError (WL_NOT_FOR_HOST) naming the key, and nothing is recorded.
    def set_host(name, caps)
      bits = WorkerLife.capabilities(caps)
      WorkerLife.check(N.wl_pool_set_host(ptr, WorkerLife.to_str("a host name", name), bits))
    end

    # The line a host logs once at start: workerlife is on, for which host,
    # the policy, the slots, what the host can do and what is refused there.
    def startup_line = WorkerLife.owned_string { |out| N.wl_pool_startup_line(ptr, out) }

    # Notes an error of the master's round: the line to log now (the first
    # time, then with its count at 10, 100...), or nil (only counted).
    def round_error(text)
      WorkerLife.to_str("an error text", text)
      WorkerLife.owned_string { |out| N.wl_pool_round_error(ptr, text, out) }
    end

    # Adopts the workers of the server's own list of pids (known ones
    # skipped, dead ones passed over, pids no longer listed forgotten): how
    # many were taken on now. A pid that is not this process's child is
    # refused (ProcessError, WL_NOT_A_CHILD, naming it) after the others
    # were adopted.
    def adopt_all(pids)
      raise WorkerLife.bad("pids is an Array of Integers, not #{pids.inspect}") unless pids.is_a?(Array)

      pids.each { |pid| WorkerLife.to_u32("pid", pid) }
      buf = FFI::MemoryPointer.new(:uint32, [pids.size, 1].max)
      buf.write_array_of_uint32(pids)
      WorkerLife.out(:size_t) { |n| N.wl_pool_adopt_all(ptr, buf, pids.size, n) }
    end

    def spawned(slot, pid) = WorkerLife.check(N.wl_pool_spawned(ptr, WorkerLife.to_u32("slot", slot), WorkerLife.to_u32("pid", pid)))
    def ready(slot) = WorkerLife.check(N.wl_pool_ready(ptr, WorkerLife.to_u32("slot", slot)))
    def adopt(pid) = WorkerLife.check(N.wl_pool_adopt(ptr, WorkerLife.to_u32("pid", pid)))
    def recycle(slot) = WorkerLife.check(N.wl_pool_recycle(ptr, WorkerLife.to_u32("slot", slot)))

    def exiting(pid)
      WorkerLife.out(:uint32) { |slot| N.wl_pool_exiting(ptr, WorkerLife.to_u32("pid", pid), slot) }
    end

    # A child exited: `status` a wait status (Process::Status or Integer). Its slot.
    def exited(pid, status)
      pid = WorkerLife.to_u32("pid", pid)
      st = WorkerLife.to_status(status)
      WorkerLife.out(:uint32) { |slot| N.wl_pool_exited(ptr, pid, st, slot) }
    end

    def exited_slot(slot, status = 0)
      slot = WorkerLife.to_u32("slot", slot)
      WorkerLife.check(N.wl_pool_exited_slot(ptr, slot, WorkerLife.to_status(status)))
    end

    def decision(slot)
      d = N::Decision.new
      WorkerLife.check(N.wl_pool_decision(ptr, WorkerLife.to_u32("slot", slot), d))
      WorkerLife.decision_of(d)
    end

    Action = Struct.new(:action, :slot, :pid, :reason, :generation, :replaces, :identity, :not_before_us, keyword_init: true)
    # An event; `line` is the library's text of it, the one every host logs
    # (`recycle_requested slot=0 pid=4242 gen=3 reason=max_requests (100 >=
    # 100) ...`), `severity` :info, :warning or :error.
    Event = Struct.new(:kind, :slot, :pid, :generation, :reason, :status, :crash, :oom_killed, :uptime, :requests, :rss,
                       :value, :limit, :line, :severity, keyword_init: true) do
      def to_s
        line
      end
    end

    # What the master must do now: [Action(action: :spawn/:recycle/:kill, slot, pid, reason, identity...)].
    def tick
      batch(N::PoolAction, :wl_pool_tick).map do |a|
        Action.new(action: ACTION_KINDS.fetch(a[:kind]), slot: a[:slot], pid: a[:pid], reason: REASONS[a[:reason]],
                   generation: a[:generation], replaces: a[:replaces] == NO_SLOT ? nil : a[:replaces],
                   identity: a[:identity], not_before_us: WorkerLife.u64(a[:not_before_us])).freeze
      end
    end

    # What happened since the last call: spawns, recycles, exits, crashes...
    def events
      batch(N::Event, :wl_pool_events).map do |e|
        Event.new(kind: EVENT_KINDS.fetch(e[:kind]), slot: e[:slot], pid: e[:pid], generation: e[:generation],
                  reason: REASONS[e[:reason]], status: e[:has_status] ? e[:status] : nil, crash: e[:crash],
                  oom_killed: e[:oom_killed], uptime: e[:uptime_us] / 1e6, requests: WorkerLife.u64(e[:requests]),
                  rss: WorkerLife.u64(e[:rss]), value: WorkerLife.u64(e[:value]), limit: WorkerLife.u64(e[:limit]),
                  line: N.wl_event_string(e), severity: SEVERITIES[N.wl_event_severity(e)]).freeze
      end
    end

    # The stats as JSON (occupied: only the slots a worker holds), parsed,
    # or as Prometheus text: one call, the text the library allocates.
    def stats_json(occupied: false) = stats_text(occupied ? N::STATS_JSON_OCCUPIED : N::STATS_JSON)
    def stats(occupied: false) = JSON.parse(stats_json(occupied: occupied))
    def prometheus = stats_text(N::STATS_PROMETHEUS)

    # Serves the pool's stats at `address` ("HOST:PORT"; port 0 picks a
    # free one, see MetricsServer#port) from a thread of the library:
    # Prometheus text at /metrics and /, the stats JSON at /stats. An address
    # that does not parse is an ArgumentError (WL_INVALID_ARGUMENT), one that
    # cannot be bound a SystemError (WL_IO), each naming it. Start it in the
    # master before forking: a child closes the server's sockets at the fork.
    def serve_metrics(address)
      WorkerLife.to_str("a metrics address", address)
      MetricsServer.new(WorkerLife.out(:pointer) { |out| N.wl_metrics_serve(ptr, address, out) }, :wl_metrics_free)
    end

    # The container's memory: working_set, limit (nil: read none), anon, file, oom_kills.
    def report_container(working_set:, limit: nil, anon: nil, file: nil, oom_kills: nil)
      r = N::ContainerReading.new
      r[:limit] = WorkerLife.to_u64("limit", limit)
      r[:working_set] = WorkerLife.to_u64("working_set", working_set)
      r[:anon] = WorkerLife.to_u64("anon", anon)
      r[:file] = WorkerLife.to_u64("file", file)
      r[:oom_kills] = WorkerLife.to_u64("oom_kills", oom_kills)
      r[:pressure_some_avg10] = Float::NAN
      WorkerLife.check(N.wl_pool_report_container(ptr, r))
    end

    # Reads this process's memory now as the workers' parent's, for memory
    # limits relative to it (max_uss=3x) and the sharing figures: call it
    # in the master once the app has booted (after a pre-fork preload),
    # before the first fork; without it the master's first #tick reads it.
    # The reading, { rss:, uss:, pss: } in bytes (nil where unknown); an
    # unreadable /proc is a SystemError and leaves the relative limits waiting.
    def read_parent
      h = N::Health.new
      WorkerLife.check(N.wl_pool_read_parent(ptr, h))
      { rss: WorkerLife.u64(h[:rss]), uss: WorkerLife.u64(h[:uss]), pss: WorkerLife.u64(h[:pss]) }.freeze
    end

    # Gives the pool a reading of the workers' parent `pid` (bytes; nil:
    # not known, its relative limit waits), for a host whose workers' parent
    # is another process, or a test: relative limits resolve against it.
    def report_parent(pid, rss: nil, uss: nil, pss: nil)
      pid = WorkerLife.to_u32("pid", pid)
      h = N::Health.new
      h[:rss] = WorkerLife.to_u64("rss", rss)
      h[:uss] = WorkerLife.to_u64("uss", uss)
      h[:pss] = WorkerLife.to_u64("pss", pss)
      h[:fds] = U64_MAX
      WorkerLife.check(N.wl_pool_report_parent(ptr, pid, h))
    end

    # A manual-clock pool's clock moves on `seconds` (rounded to the microsecond).
    def advance(seconds)
      unless seconds.is_a?(Numeric) && seconds.real? && seconds.finite? && seconds >= 0
        raise WorkerLife.bad("seconds must be a finite number >= 0, not #{seconds.inspect}")
      end

      us = WorkerLife.to_int("seconds (in microseconds)", (seconds * 1_000_000).round, 0, U64_MAX - 1)
      WorkerLife.check(N.wl_pool_advance(ptr, us))
    end

    # Seconds until the next respawn is allowed, or nil when none waits.
    def next_spawn_in
      due = FFI::MemoryPointer.new(:bool)
      us = FFI::MemoryPointer.new(:uint64)
      WorkerLife.check(N.wl_pool_next_spawn_in(ptr, due, us))
      due.read(:bool) ? us.read(:uint64) / 1e6 : nil
    end

    private

    def stats_text(format)
      WorkerLife.owned_string { |out| N.wl_pool_stats_text(ptr, format, out) }
    end

    def initialize_handle(ptr)
      @ptr = FFI::AutoPointer.new(ptr, N.method(:wl_pool_free))
    end

    def batch(type, fn)
      buf = FFI::MemoryPointer.new(type, 64)
      n = FFI::MemoryPointer.new(:size_t)
      all = []
      loop do
        WorkerLife.check(N.send(fn, ptr, buf, 64, n))
        got = n.read(:size_t)
        got.times { |i| all << type.new(buf + (i * type.size)) }
        return all if got < 64
      end
    end
  end

  # A worker's handle on its slot.
  class Worker < Handle
    # A request begins: true when it should be this worker's last (stop accepting).
    def begin_request
      r = N.wl_worker_begin_flag(@ptr || ptr) # the hot path: no method call when open
      return r == 1 unless r.negative?

      WorkerLife.check(-r)
    end

    # A request ended: true when the worker must exit after answering.
    def end_request
      r = N.wl_worker_end_flag(@ptr || ptr)
      return r == 1 unless r.negative?

      WorkerLife.check(-r)
    end

    # The names the other bindings use (Ruby allows them after a dot: w.begin, w.end).
    alias_method :begin, :begin_request
    alias_method :end, :end_request

    # A request begins with a ticket of its own, for #end_ticket from any
    # thread: the slot times each request in flight apart, so one stuck
    # among others that keep ending is still caught by request_timeout.
    # An Integer below 2^53; TICKET_LAST set in it says this should be the
    # worker's last request (stop accepting).
    def begin_ticket
      t = N.wl_worker_begin_ticket_value(@ptr || ptr)
      return t unless t.negative?

      WorkerLife.check(-t)
    end

    # The request of `ticket` ended, whatever its outcome: true when the
    # worker must exit after answering. A ticket this worker does not have
    # in flight (ended already, never issued, another worker's) is a
    # PoolError (WL_BAD_TICKET) and changes nothing.
    def end_ticket(ticket)
      # Checked here, so that nil, a Float or a number past a uint64 is this
      # binding's ArgumentError and never the ffi gem's RangeError or TypeError.
      WorkerLife.to_int("a ticket", ticket, 0, U64_MAX) unless ticket.is_a?(Integer) && ticket >= 0 && ticket <= U64_MAX
      r = N.wl_worker_end_ticket_flag(@ptr || ptr, ticket)
      return r == 1 unless r.negative?

      WorkerLife.check(-r)
    end

    # The tickets (without TICKET_LAST) of this worker's requests past
    # request_timeout, for a host that can end one request alone: an Array
    # of at most TICKETS Integers, empty when request_timeout is off.
    def overdue
      buf = FFI::MemoryPointer.new(:uint64, TICKETS)
      n = WorkerLife.out(:size_t) { |count| N.wl_worker_overdue(ptr, buf, TICKETS, count) }
      buf.read_array_of_uint64([n, TICKETS].min)
    end

    def heartbeat = WorkerLife.check(N.wl_worker_heartbeat(ptr))
    def on_event_loop = WorkerLife.check(N.wl_worker_on_event_loop(ptr))
    def check(ok) = WorkerLife.check(N.wl_worker_check(ptr, ok ? true : false))

    # Readings in bytes (fds a count); a missing one is nil.
    def report_health(rss: nil, uss: nil, pss: nil, fds: nil)
      h = N::Health.new
      h[:rss] = WorkerLife.to_u64("rss", rss)
      h[:uss] = WorkerLife.to_u64("uss", uss)
      h[:pss] = WorkerLife.to_u64("pss", pss)
      h[:fds] = WorkerLife.to_u64("fds", fds)
      WorkerLife.check(N.wl_worker_report_health(ptr, h))
    end

    def decision
      d = N::Decision.new
      WorkerLife.check(N.wl_worker_decision(ptr, d))
      WorkerLife.decision_of(d)
    end

    def must_exit? = decision.must_exit?

    def requests
      WorkerLife.out(:uint64) { |n| N.wl_worker_requests(ptr, n) }
    end

    def slot
      WorkerLife.out(:uint32) { |n| N.wl_worker_slot(ptr, n) }
    end

    # On the way out: not a crash, and a recycle permit goes back at once.
    def exiting = WorkerLife.check(N.wl_worker_exiting(ptr))

    # The watchdog: a native thread that ends this process with SIGKILL on a
    # kill decision (request_timeout...) even while Ruby holds its lock, and
    # sends `recycle_signal` (default none) once on a granted recycle.
    def watchdog(recycle_signal: nil, interval_ms: 0)
      sig = WorkerLife.to_signal("recycle_signal", recycle_signal, none: true)
      interval_ms = WorkerLife.to_u32("interval_ms", interval_ms)
      Watchdog.new(WorkerLife.out(:pointer) { |out| N.wl_worker_watchdog(ptr, sig, interval_ms, out) }, :wl_watchdog_detach)
    end
  end

  # A worker's running watchdog thread. Collected without #stop, the thread
  # stays for the life of the process.
  class Watchdog < Handle
    def wake = WorkerLife.check(N.wl_watchdog_wake(ptr))

    # Stops the thread and waits for it.
    def stop = release_with(:wl_watchdog_free)
  end

  # A running stats endpoint (Pool#serve_metrics). It serves until #stop,
  # or until collected: keep it for as long as it should serve.
  class MetricsServer < Handle
    # The port it listens on (the one picked when 0 was asked for).
    def port = WorkerLife.out(:uint16) { |p| N.wl_metrics_port(ptr, p) }

    # Stops serving, closes the port and waits for the library's thread;
    # a second call does nothing. In a forked child it only lets go.
    def stop = release_with(:wl_metrics_free)
    alias_method :close, :stop
  end

  # Sends `signal` to `pid` only if it is still the process `identity` names.
  def self.kill(pid, signal, identity)
    n = to_signal("signal", signal)
    pid = to_u32("pid", pid)
    identity = to_int("identity", identity, 0, U64_MAX)
    check(N.wl_signal(pid, identity, n))
  end
end
