# frozen_string_literal: true

require "json"
require_relative "workerlife/native"

# workerlife for Ruby: Policy, Pool, Worker and Watchdog over the C ABI
# (the ffi gem), values normalised (no reading -> nil), constants and names
# read from the library, one exception class per result family.
module WorkerLife
  N = Native
  private_constant :N

  # The top three uint64s: "no reading" and its neighbours.
  NO_READING_FLOOR = (1 << 64) - 3
  U64_MAX = (1 << 64) - 1
  NO_SLOT = 0xffff_ffff

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

  # A reading for the library: nil (none) or an Integer in [0, 2^64 - 3).
  def self.to_u64(name, v)
    return U64_MAX if v.nil?
    raise bad("#{name} must be an Integer, not #{v.inspect}") unless v.is_a?(Integer)
    raise bad("#{name} is out of range: #{v}") if v.negative? || v >= NO_READING_FLOOR

    v
  end

  def self.to_u32(name, v)
    raise bad("#{name} must be an Integer in [0, 2^32), not #{v.inspect}") unless v.is_a?(Integer) && v >= 0 && v <= NO_SLOT

    v
  end

  def self.to_str(name, v)
    raise bad("#{name} must be a String, not #{v.class}") unless v.is_a?(String)
    raise bad("#{name} cannot hold a NUL") if v.include?("\0")

    v
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

  # A decision: action, reason (nil for none), value, limit, text, must_exit?.
  Decision = Struct.new(:action, :reason, :value, :limit, :text, keyword_init: true) do
    def must_exit?
      action != :continue
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
    if signal
      n = signal.is_a?(Integer) ? signal : Signal.list[signal.to_s.delete_prefix("SIG")]
      raise bad("unknown signal #{signal.inspect}") unless n

      n & 0x7f
    else
      (code.to_i & 0xff) << 8
    end
  end

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

    def spawned(slot, pid) = WorkerLife.check(N.wl_pool_spawned(ptr, WorkerLife.to_u32("slot", slot), WorkerLife.to_u32("pid", pid)))
    def ready(slot) = WorkerLife.check(N.wl_pool_ready(ptr, WorkerLife.to_u32("slot", slot)))
    def adopt(pid) = WorkerLife.check(N.wl_pool_adopt(ptr, WorkerLife.to_u32("pid", pid)))
    def recycle(slot) = WorkerLife.check(N.wl_pool_recycle(ptr, WorkerLife.to_u32("slot", slot)))

    def exiting(pid)
      WorkerLife.out(:uint32) { |slot| N.wl_pool_exiting(ptr, WorkerLife.to_u32("pid", pid), slot) }
    end

    # A child exited: `status` a wait status (Process::Status or Integer). Its slot.
    def exited(pid, status)
      st = status.is_a?(Process::Status) ? status.to_i : status
      raise WorkerLife.bad("a wait status is an Integer, not #{status.inspect}") unless st.is_a?(Integer) && st.bit_length < 32

      WorkerLife.out(:uint32) { |slot| N.wl_pool_exited(ptr, WorkerLife.to_u32("pid", pid), st, slot) }
    end

    def exited_slot(slot, status = 0)
      raise WorkerLife.bad("a wait status is an Integer, not #{status.inspect}") unless status.is_a?(Integer) && status.bit_length < 32

      WorkerLife.check(N.wl_pool_exited_slot(ptr, WorkerLife.to_u32("slot", slot), status))
    end

    def decision(slot)
      d = N::Decision.new
      WorkerLife.check(N.wl_pool_decision(ptr, WorkerLife.to_u32("slot", slot), d))
      WorkerLife.decision_of(d)
    end

    Action = Struct.new(:action, :slot, :pid, :reason, :generation, :replaces, :identity, :not_before_us, keyword_init: true)
    Event = Struct.new(:kind, :slot, :pid, :generation, :reason, :status, :crash, :oom_killed, :uptime, :requests, :rss,
                       keyword_init: true)

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
                  rss: WorkerLife.u64(e[:rss])).freeze
      end
    end

    def stats_json = WorkerLife.text { |b, n, need| N.wl_pool_stats_json(ptr, b, n, need) }
    def stats = JSON.parse(stats_json)
    def prometheus = WorkerLife.text { |b, n, need| N.wl_pool_prometheus(ptr, b, n, need) }

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

    # A manual-clock pool's clock moves on `seconds` (rounded to the microsecond).
    def advance(seconds)
      raise WorkerLife.bad("seconds must be finite and >= 0, not #{seconds.inspect}") unless seconds.is_a?(Numeric) && seconds.finite? && seconds >= 0

      WorkerLife.check(N.wl_pool_advance(ptr, (seconds * 1e6).round))
    end

    # Seconds until the next respawn is allowed, or nil when none waits.
    def next_spawn_in
      due = FFI::MemoryPointer.new(:bool)
      us = FFI::MemoryPointer.new(:uint64)
      WorkerLife.check(N.wl_pool_next_spawn_in(ptr, due, us))
      due.read(:bool) ? us.read(:uint64) / 1e6 : nil
    end

    private

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
      sig = recycle_signal.nil? ? 0 : (recycle_signal.is_a?(Integer) ? recycle_signal : Signal.list[recycle_signal.to_s.delete_prefix("SIG")])
      raise WorkerLife.bad("unknown signal #{recycle_signal.inspect}") unless sig

      interval_ms = WorkerLife.to_u32("interval_ms", interval_ms)
      Watchdog.new(WorkerLife.out(:pointer) { |out| N.wl_worker_watchdog(ptr, sig, interval_ms, out) }, :wl_watchdog_detach)
    end
  end

  # A worker's running watchdog thread. Collected without #stop, the thread
  # stays for the life of the process.
  class Watchdog < Handle
    def wake = WorkerLife.check(N.wl_watchdog_wake(ptr))

    # Stops the thread and waits for it.
    def stop
      return if closed?

      p = @ptr
      @ptr = nil
      p.autorelease = false
      WorkerLife.check(N.wl_watchdog_free(p))
    end
  end

  # Sends `signal` to `pid` only if it is still the process `identity` names.
  def self.kill(pid, signal, identity)
    n = signal.is_a?(Integer) ? signal : Signal.list[signal.to_s.delete_prefix("SIG")]
    raise bad("unknown signal #{signal.inspect}") unless n

    check(N.wl_signal(to_u32("pid", pid), to_u64("identity", identity), n))
  end
end
