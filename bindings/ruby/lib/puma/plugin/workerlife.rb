# frozen_string_literal: true

# `plugin :workerlife` in puma.rb (cluster mode): the whole of workerlife
# for Puma, with nothing else by hand. The policy comes from
# WORKERLIFE_POLICY; WORKERLIFE_POOL publishes the pool for `workerlife top`.
#
# - start (the master, before Puma forks): the policy is parsed and checked
#   against what Puma's cluster can carry out, the pool is made (sized by
#   the library's rule), shared with every worker forked after, and the
#   library's start-up line is logged. A bad policy, a typo'd key or a rule
#   Puma cannot carry out stops Puma's start (exit 1), naming the key.
# - on_worker_boot: the worker claims its slot by pid and starts its
#   watchdog (SIGTERM once on a granted recycle, SIGKILL on a kill).
# - every request: counted (the app is wrapped in WorkerLife::Rack; a
#   `use WorkerLife::Rack` of the app's own is not counted twice).
# - on_worker_shutdown: exiting() (not a crash; the permit goes back).
# - the master: a supervisor thread adopts Puma's workers from its own
#   list, ticks (memory sampling, kills of a stuck worker from outside it),
#   reports each exit with its status and logs each event with the
#   library's line; its errors are logged once each (then counted).
#
# Puma gives its hooks a worker's index, not its pid: the master adopts
# workers by pid from its own list, and a worker claims the slot recorded
# for its pid.

require "puma/plugin"
require "workerlife"
require "workerlife/rack"

module WorkerLife
  # The Puma side: what the plugin's hooks and the master's thread share.
  module PumaPlugin
    TICK = 0.1

    # What Puma's cluster mode can carry out. Its master ticks the pool and
    # signals its own children (master_kills); each worker's watchdog ends
    # its own process on a kill (watchdog_kills); `threads` runs several
    # requests at once in a worker (concurrent). Not heartbeat: a Ruby
    # thread's beat proves nothing about the loop that serves requests.
    # Not surge: Puma's master starts workers only up to `workers` (see
    # docs/ruby.md, "max_surge").
    HOST = "Puma cluster"
    CAPS = %i[master_kills watchdog_kills concurrent].freeze

    # Records each worker's wait status as Puma's master reaps it (Puma
    # keeps none), for the supervisor to report.
    module StatusRecorder
      def wait(*args)
        pid = super
        PumaPlugin.statuses << [pid, $?.to_i] if pid && $? && PumaPlugin.pool
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
    @statuses = Queue.new

    class << self
      attr_reader :pool, :statuses

      def log(events, line)
        events ? events.log("[workerlife] #{line}") : warn("[workerlife] #{line}")
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
        setting("WORKERLIFE_POLICY", spec, events) { WorkerLife.check_host(policy, HOST, CAPS) }
        path = ENV.fetch("WORKERLIFE_POOL", "").strip
        slots = WorkerLife.host_slots(workers, policy, CAPS)
        @pool = setting("WORKERLIFE_POOL", path, events) do
          path.empty? ? WorkerLife::Pool.new(policy, slots: slots, shared: true) : WorkerLife::Pool.open(path, policy, slots)
        end
        @pool.set_host(HOST, CAPS)
        log(events, @pool.startup_line + (path.empty? ? "" : "; published at #{path}"))
        true
      end

      def setting(name, value, events)
        yield
      rescue WorkerLife::Error => e
        events.error("[workerlife] #{name}=#{value.inspect} stops the start: #{e.message}")
      end

      def worker_boot(events)
        return unless @pool

        WorkerLife::Host.start(@pool.claim(Process.pid))
      rescue WorkerLife::Error => e
        log(events, "worker #{Process.pid} runs unsupervised: #{e.message}")
      end

      def supervise(launcher)
        loop do
          sleep TICK
          round(launcher)
        rescue StandardError => e
          round_error(launcher.events, "supervisor error: #{e.class}: #{e.message}")
        end
      end

      # An error of the round: logged the first time, then only counted
      # (and logged with its count at 10, 100...).
      def round_error(events, text)
        line = @pool.round_error(text)
        log(events, line) if line
      end

      def round(launcher)
        events = launcher.events
        runner = launcher.instance_variable_get(:@runner)
        handles = runner.instance_variable_get(:@workers) || []
        begin
          @pool.adopt_all(handles.map(&:pid).compact)
        rescue WorkerLife::Error => e
          round_error(events, "adopting Puma's workers: #{e.message}")
        end
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
        @pool.events.each { |e| log(events, e.line) }
      end

      # Kills are sent identity-checked; the pool's events say why. A
      # recycle is the worker's own watchdog's to signal (once), never the
      # master's too; spawns are Puma's own.
      def act(events, action)
        return unless action.action == :kill

        WorkerLife.kill(action.pid, "KILL", action.identity)
      rescue WorkerLife::Error => e
        round_error(events, "not signalling #{action.pid}: #{e.message}")
      end
    end
  end
end

Puma::Plugin.create do
  def config(dsl)
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
