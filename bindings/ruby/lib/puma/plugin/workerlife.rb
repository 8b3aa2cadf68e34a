# frozen_string_literal: true

# `plugin :workerlife` in puma.rb (cluster mode): the whole of workerlife
# for Puma, with nothing else by hand. The policy comes from
# WORKERLIFE_POLICY; WORKERLIFE_POOL publishes the pool for `workerlife top`.
#
# - before_fork (master): the pool, shared with every worker forked after.
# - on_worker_boot: the worker adopts its slot by pid and starts its
#   watchdog (SIGTERM once on a granted recycle, SIGKILL on a kill).
# - every request: counted (the app is wrapped in WorkerLife::Rack; a
#   `use WorkerLife::Rack` of the app's own is not counted twice).
# - on_worker_shutdown: exiting() (not a crash; the permit goes back).
# - the master: a supervisor thread adopts Puma's workers, ticks (memory
#   sampling, kills of a stuck worker from outside it), logs each recycle,
#   kill and crash with its reason, and reports each exit with its status.
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

      def policy
        spec = ENV.fetch("WORKERLIFE_POLICY", "")
        WorkerLife::Policy.parse(spec)
      rescue WorkerLife::Error => e
        raise ::ArgumentError, "workerlife: bad WORKERLIFE_POLICY #{spec.inspect}: #{e.message}"
      end

      def make_pool(workers, events)
        return if @pool

        path = ENV.fetch("WORKERLIFE_POOL", "").strip
        slots = (2 * workers) + 8
        @pool = if path.empty?
                  WorkerLife::Pool.new(policy, slots: slots, shared: true)
                else
                  WorkerLife::Pool.open(path, policy, slots)
                end
        log(events, "policy #{ENV.fetch('WORKERLIFE_POLICY', '').inspect}, #{slots} slots#{path.empty? ? '' : ", published at #{path}"}")
      end

      def worker_boot(events)
        return unless @pool

        WorkerLife::Host.start(@pool.claim(Process.pid))
      rescue WorkerLife::Error => e
        log(events, "worker #{Process.pid} runs unsupervised: #{e.message}")
      end

      def supervise(launcher)
        adopted = {}
        loop do
          sleep TICK
          next unless @pool

          round(launcher, adopted)
        rescue StandardError => e
          log(launcher.events, "supervisor error: #{e.class}: #{e.message}")
        end
      end

      def round(launcher, adopted)
        runner = launcher.instance_variable_get(:@runner)
        handles = runner.instance_variable_get(:@workers) || []
        live = handles.map(&:pid).compact
        (live - adopted.keys).each do |pid|
          @pool.adopt(pid)
          adopted[pid] = true
        rescue WorkerLife::Error
          nil # gone already, or claimed
        end
        until @statuses.empty?
          pid, status = @statuses.pop
          adopted.delete(pid)
          begin
            @pool.exited(pid, status)
          rescue WorkerLife::Error
            nil # not one of ours
          end
        end
        @pool.tick.each { |a| act(launcher.events, a) }
        @pool.events.each { |e| log(launcher.events, event_line(e)) }
      end

      def act(events, action)
        text = @pool.decision(action.slot).text
        case action.action
        when :kill
          begin
            WorkerLife.kill(action.pid, "KILL", action.identity)
            log(events, "killing worker #{action.pid} (slot #{action.slot}): #{text}")
          rescue WorkerLife::Error => e
            log(events, "not signalling #{action.pid}: #{e.message}")
          end
        when :recycle
          # The worker's own watchdog sends it SIGTERM once; never the master too.
          log(events, "recycling worker #{action.pid} (slot #{action.slot}): #{text}")
        end
        # :spawn: Puma starts its workers itself.
      end

      def event_line(e)
        parts = ["#{e.kind} pid=#{e.pid} slot=#{e.slot}"]
        parts << "reason=#{e.reason}" if e.reason
        parts << "status=#{e.status}" if e.status
        parts << "rss=#{e.rss}" if e.rss
        parts << "crash" if e.crash
        parts << "oom_killed" if e.oom_killed
        parts.join(" ")
      end
    end
  end
end

Puma::Plugin.create do
  def config(dsl)
    workers = -> { dsl.get(:workers, 0).to_i }
    dsl.before_fork do
      WorkerLife::PumaPlugin.make_pool(workers.call, nil) if workers.call.positive?
    end
    dsl.on_worker_boot { WorkerLife::PumaPlugin.worker_boot(nil) }
    dsl.on_worker_shutdown { WorkerLife::Host.exiting }
  end

  def start(launcher)
    if launcher.options[:workers].to_i.zero?
      launcher.events.log("[workerlife] single mode has no workers to recycle: not installed (use `workers N`)")
      return
    end
    Puma::Configuration.prepend(WorkerLife::PumaPlugin::AppWrapper)
    Process.singleton_class.prepend(WorkerLife::PumaPlugin::StatusRecorder)
    in_background { WorkerLife::PumaPlugin.supervise(launcher) }
  end
end
