# frozen_string_literal: true

# `plugin :workerlife` in puma.rb (cluster mode): the whole of workerlife
# for Puma, with nothing else by hand. The policy comes from
# WORKERLIFE_POLICY; WORKERLIFE_POOL publishes the pool for `workerlife top`;
# WORKERLIFE_METRICS=HOST:PORT serves its stats (Prometheus text at
# /metrics, JSON at /stats).
#
# - start (the master, before Puma forks): the policy is parsed and checked
#   against what Puma's cluster can carry out, the pool is made (sized by
#   the library's rule), shared with every worker forked after, and the
#   library's start-up line is logged. A bad policy, a typo'd key or a rule
#   Puma cannot carry out stops Puma's start (exit 1), naming the key.
#   With WORKERLIFE_METRICS, the library's thread serves the pool's stats
#   there from the master (a worker forked after closes its sockets), until
#   Puma stops; an address it cannot serve stops the start, named.
# - before_fork, with `preload_app!` (the master has loaded the app): the
#   master reads its own memory as the workers' parent's (read_parent), so
#   that a limit relative to it (max_uss=3x) is of the app as booted.
#   Without preload the master loads no app and its first tick reads it: a
#   multiple is then of Puma's small master, so prefer a size.
# - on_worker_boot: the worker claims its slot by pid and starts its
#   watchdog (SIGTERM once on a granted recycle, SIGKILL on a kill).
# - every request: counted and timed on its own with a ticket (the app is
#   wrapped in WorkerLife::Rack; a `use WorkerLife::Rack` of the app's own
#   is not counted twice), so request_timeout holds with `threads 1, N`.
# - on_worker_shutdown: exiting() (not a crash; the permit goes back).
# - the master: a supervisor thread adopts Puma's workers from its own
#   list, ticks (memory sampling, kills of a stuck worker from outside it),
#   reports each exit with its status and logs each event with the
#   library's line at its severity (info on stdout; WARNING: and ERROR:
#   lines on stderr, as Puma's own); its errors are logged once each (then
#   counted).
# - a crash loop (more than max_restarts workers leaving unasked before
#   min_uptime within restart_window): Puma starts its own workers, with no
#   hook to delay one, so the library's delay cannot be carried out here.
#   The plugin says so in an ERROR line naming the crash loop and stops
#   Puma as its SIGTERM does (every worker stopped), exiting 1: the
#   supervisor that runs Puma (systemd, Kubernetes) backs off.
#
# Puma gives its hooks a worker's index, not its pid: the master adopts
# workers by pid from its documented stats (Puma.stats_hash), and a worker
# claims the slot recorded for its pid.

require "puma/plugin"
require "workerlife"
require "workerlife/rack"

module WorkerLife
  # The Puma side: what the plugin's hooks and the master's thread share.
  module PumaPlugin
    TICK = 0.1

    # What Puma's cluster mode can carry out. Its master ticks the pool and
    # signals its own children (master_kills); each worker's watchdog ends
    # its own process on a kill (watchdog_kills); its master starts one
    # worker more when its `workers` count grows, as its own SIGTTIN does
    # (surge: see Surge). Not heartbeat: a Ruby thread's beat proves nothing
    # about the loop that serves requests.
    HOST = "Puma cluster"
    CAPS = %i[master_kills watchdog_kills surge].freeze

    # The capabilities under these `options`. `threads` with a maximum
    # above 1 runs several requests at once in a worker (concurrent); each
    # of them holds a ticket of its own (WorkerLife::Rack: tickets), so a
    # request stuck among others that keep ending is still timed, and
    # request_timeout holds there too.
    def self.caps(options)
      options[:max_threads].to_i > 1 ? CAPS + %i[concurrent tickets] : CAPS
    end

    # max_surge under Puma. Puma's master keeps `options[:workers]` workers:
    # each pass of its loop reaps exited workers, culls past the count, then
    # forks up to it (Cluster#check_workers); its SIGTTIN grows the count by
    # one and wakes it. A spawn action that replaces a worker sends the
    # master SIGTTIN: it forks the replacement, which claims the slot the
    # pool kept for it. The count goes back down when the master reaps the
    # next worker (the one replaced, once its replacement serves; or the
    # replacement, when it was late and the pool ended it), in the master's
    # own thread between its reaping and its forking, so that no further
    # worker is started and none is culled. The count is only ever changed
    # in the master's main thread (Puma's trap, the reaping); each counter
    # here has one writer, so no lock is taken (the reaping may run in a
    # trap, where Ruby allows none).
    module Surge
      @started = 0 # written by the supervisor thread only
      @ended = 0 # written by the master's main thread only

      class << self
        def start
          @started += 1
          Process.kill("TTIN", Process.pid)
        end

        # The master reaped a worker: one surge is over.
        def reaped(options)
          return unless @started > @ended

          @ended += 1
          options[:workers] -= 1
        end
      end
    end

    # Records each worker's wait status as Puma's master reaps it (Puma
    # keeps none), for the supervisor to report; ends a surge.
    module StatusRecorder
      def wait(*args)
        pid = super
        if pid && $? && PumaPlugin.pool
          PumaPlugin.statuses << [pid, $?.to_i]
          Surge.reaped(PumaPlugin.options)
        end
        pid
      end
    end

    # Wraps the app Puma serves in WorkerLife::Rack.
    module AppWrapper
      def app
        WorkerLife::Rack.new(super)
      end
    end

    @pool = nil
    @metrics = nil
    @options = nil
    @events = nil
    @relative = false
    @statuses = Queue.new
    @ready = {}

    class << self
      attr_reader :pool, :statuses, :options, :metrics

      # A line of the plugin's at `severity` (an event's, :info by
      # default): info through Puma's log (stdout), a warning or an error on
      # stderr marked as Puma marks its own errors.
      def log(events, line, severity = :info)
        text = "[workerlife] #{line}"
        case severity
        when :warning, :error
          text = "#{severity == :error ? 'ERROR' : 'WARNING'}: #{text}"
          events ? events.stderr.puts(events.format(text)) : warn(text)
        else
          events ? events.log(text) : warn(text)
        end
      rescue IOError, SystemCallError
        nil # a closed or broken log: nothing to tell it
      end

      # In the master, before Puma forks: true when installed. A setting
      # that cannot be served ends Puma's start through events.error (exit 1).
      def install(launcher)
        events = launcher.events
        spec = ENV.fetch("WORKERLIFE_POLICY", "")
        policy = setting("WORKERLIFE_POLICY", spec, events) { WorkerLife::Policy.parse(spec) }
        workers = launcher.options[:workers].to_i
        if workers.zero?
          log(events, "single mode has no workers to recycle: not installed (use `workers N`)")
          return false
        end
        caps = PumaPlugin.caps(launcher.options)
        setting("WORKERLIFE_POLICY", spec, events) { WorkerLife.check_host(policy, HOST, caps) }
        path = ENV.fetch("WORKERLIFE_POOL", "").strip
        slots = WorkerLife.host_slots(workers, policy, caps)
        @pool = setting("WORKERLIFE_POOL", path, events) do
          path.empty? ? WorkerLife::Pool.new(policy, slots: slots, shared: true) : WorkerLife::Pool.open(path, policy, slots)
        end
        @pool.set_host(HOST, caps)
        @options = launcher.options
        @events = launcher.events
        @relative = %w[max_rss max_uss max_pss].any? { |k| policy.get(k).is_a?(String) }
        served = serve_metrics(launcher)
        log(events, @pool.startup_line + (path.empty? ? "" : "; published at #{path}"))
        log(events, served) if served
        true
      end

      # WORKERLIFE_METRICS, served before Puma forks (a worker closes the
      # server's sockets at its fork); stopped when Puma stops. Puma's hot
      # restart execs, which closes them too (close-on-exec). The line to
      # log, or nil when unset.
      def serve_metrics(launcher)
        address = ENV.fetch("WORKERLIFE_METRICS", "").strip
        return nil if address.empty?

        @metrics = setting("WORKERLIFE_METRICS", address, launcher.events) { @pool.serve_metrics(address) }
        launcher.events.on_stopped { stop_metrics }
        "stats served at #{address.sub(/:\d+\z/, ":#{@metrics.port}")} (/metrics, /stats)"
      end

      def stop_metrics
        m = @metrics
        @metrics = nil
        m&.stop
      end

      def setting(name, value, events)
        yield
      rescue WorkerLife::Error => e
        events.error("[workerlife] #{name}=#{value.inspect} stops the start: #{e.message}")
      end

      # Puma's before_fork (the master, once a preloaded app has booted,
      # before the first worker is forked): the parent is read now, and said
      # when a memory limit is relative to it. A /proc that cannot be read
      # is logged; the master's ticks try again.
      def before_fork
        return unless @pool && @options[:preload_app]

        r = @pool.read_parent
        return unless @relative

        mib = ->(v) { v ? format("%.1fMiB", v / 1_048_576.0) : "unknown" }
        log(@events, "relative memory limits read the master, pid #{Process.pid}, after the app's preload: " \
                     "rss #{mib.call(r[:rss])}, uss #{mib.call(r[:uss])}, pss #{mib.call(r[:pss])}")
      rescue WorkerLife::Error => e
        log(@events, "reading the master after the app's preload: #{e.message}", :warning)
      end

      def worker_boot(events)
        return unless @pool

        WorkerLife::Host.start(@pool.claim(Process.pid))
      rescue WorkerLife::Error => e
        log(events, "worker #{Process.pid} runs unsupervised: #{e.message}")
      end

      # Until a crash loop stops Puma: nothing is left to supervise then.
      def supervise(launcher)
        loop do
          sleep TICK
          break if round(launcher) == :crash_loop
        rescue StandardError => e
          round_error(launcher.events, "supervisor error: #{e.class}: #{e.message}")
        end
      end

      # A crash loop: Puma stops as its SIGTERM stops it (listeners closed,
      # every worker sent SIGTERM and waited for, on_stopped hooks run) and
      # its process exits 1 once all of that is done, with a last line
      # naming the crash loop. Puma has no status of its own for a stop, so
      # an at_exit of the master's sets it.
      def crash_loop(launcher, event)
        events = launcher.events
        log(events, "crash loop: workers keep crashing before min_uptime (#{event.line}); " \
                    "Puma starts its own workers, so their start cannot be delayed here: " \
                    "stopping Puma (exit 1) for its supervisor to back off", :error)
        master = Process.pid
        at_exit do
          next unless Process.pid == master

          log(events, "Puma stopped: crash loop (exit 1)", :error)
          exit 1
        end
        launcher.stop
      end

      # An error of the round: logged the first time, then only counted
      # (and logged with its count at 10, 100...).
      def round_error(events, text)
        line = @pool.round_error(text)
        log(events, line) if line
      end

      # Puma's workers as its documented stats give them (Puma.stats_hash,
      # since Puma 5.0): one { pid:, booted: ... } per worker.
      def puma_workers
        Puma.stats_hash.fetch(:worker_status, [])
      end

      def round(launcher)
        events = launcher.events
        workers = puma_workers
        begin
          @pool.adopt_all(workers.map { |w| w[:pid] }.compact)
        rescue WorkerLife::Error => e
          round_error(events, "adopting Puma's workers: #{e.message}")
        end
        ready(workers)
        until @statuses.empty?
          pid, status = @statuses.pop
          begin
            @pool.exited(pid, status)
          rescue WorkerLife::Error => e
            # A worker that exited before it was adopted is no worker of the pool's.
            round_error(events, "reporting the exit of #{pid}: #{e.message}") unless e.code == WorkerLife::WL_UNKNOWN_PID
          end
        end
        @pool.tick.each { |a| act(events, a) }
        loop_event = nil
        @pool.events.each do |e|
          log(events, e.line, e.severity)
          loop_event ||= e if e.kind == :crash_loop
        end
        return unless loop_event

        crash_loop(launcher, loop_event)
        :crash_loop
      end

      # A worker Puma says booted (its server runs) is ready: a replacement
      # then lets the worker it replaces drain, and a recycle permit goes
      # back. Its slot is the one holding its pid.
      def ready(workers)
        booted = workers.select { |w| w[:pid] && w[:booted] && !@ready[w[:pid]] }
        @ready.select! { |pid, _| workers.any? { |w| w[:pid] == pid } }
        return if booted.empty?

        slots = @pool.stats(occupied: true)["per_slot"].to_h { |s| [s["pid"], s["slot"]] }
        booted.each do |w|
          next unless slots[w[:pid]] # not claimed yet

          @pool.ready(slots[w[:pid]])
          @ready[w[:pid]] = true
        end
      end

      # Kills are sent identity-checked; the pool's events say why. A
      # recycle is the worker's own watchdog's to signal (once), never the
      # master's too. A spawn that replaces a worker (max_surge) has Puma's
      # master start one more; other spawns are Puma's own.
      def act(events, action)
        case action.action
        when :kill
          WorkerLife.kill(action.pid, "KILL", action.identity)
        when :spawn
          Surge.start if action.replaces
        end
      rescue WorkerLife::Error => e
        round_error(events, "not signalling #{action.pid}: #{e.message}")
      end
    end
  end
end

Puma::Plugin.create do
  def config(dsl)
    dsl.before_fork { WorkerLife::PumaPlugin.before_fork }
    dsl.on_worker_boot { WorkerLife::PumaPlugin.worker_boot(nil) }
    dsl.on_worker_shutdown { WorkerLife::Host.exiting }
  end

  def start(launcher)
    return unless WorkerLife::PumaPlugin.install(launcher)

    Puma::Configuration.prepend(WorkerLife::PumaPlugin::AppWrapper)
    Process.singleton_class.prepend(WorkerLife::PumaPlugin::StatusRecorder)
    in_background { WorkerLife::PumaPlugin.supervise(launcher) }
  end
end
