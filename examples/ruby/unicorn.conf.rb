# frozen_string_literal: true

# workerlife for Unicorn, in its config file (docs/ruby.md, "Rack, and
# Unicorn"):
#
#   WORKERLIFE_POLICY="max_requests=1000,max_rss=300MiB,request_timeout=30s" \
#     RUBYLIB=/path/to/workerlife/bindings/ruby/lib \
#     unicorn -c examples/ruby/unicorn.conf.rb -l 127.0.0.1:8080 config.ru
#
# with `use WorkerLife::Rack` in config.ru (`require "workerlife/rack"`).
#
# - The master parses the policy when it reads this file (a bad key stops
#   Unicorn at start, naming it; so do heartbeat_timeout and max_surge,
#   which Unicorn cannot carry out) and makes the pool, shared with every
#   worker it forks after.
# - after_fork (the worker): the worker claims its slot by pid and starts
#   its watchdog, which sends it SIGQUIT once on a granted recycle
#   (Unicorn's graceful stop: finish the request, accept no more; its
#   SIGTERM is an immediate exit) and SIGKILL on a kill decision
#   (request_timeout), even while a request holds Ruby's interpreter lock.
# - after_worker_ready (the worker): its slot is ready, which returns the
#   recycle permit of the worker it replaced.
# - The master runs no thread of ours (a thread holding one of the
#   library's locks across Unicorn's fork could leave it held in the
#   child): before each fork and after each worker's exit it adopts
#   Unicorn's workers by pid, reports the exit with its status, ticks the
#   pool and logs its events in the library's line, each at its severity
#   (Unicorn's logger: info, warn, error):
#     [workerlife] recycle_requested slot=1 pid=2230 gen=1 reason=max_requests (1000 >= 1000) ...
#   Kills the pool decides in those ticks are sent identity-checked.
# - A worker's exit is "on request" (not a crash) only when it is clean: an
#   `exit` or `exit 0`, Unicorn's graceful stop. An `exit 1`, an exception
#   or an `exit!` is a crash.
# - A crash loop (more than max_restarts workers crashing before
#   min_uptime within restart_window): Unicorn's master forks its workers
#   itself, with no hook to delay one, so the library's delay cannot be
#   carried out here. The master logs an error naming the crash loop, stops
#   every worker (SIGTERM, SIGKILL after `timeout`), removes its pid file
#   and exits 1: the supervisor that runs Unicorn (systemd, Kubernetes)
#   backs off.
# - WORKERLIFE_METRICS=HOST:PORT (port 0: any free one): the master serves
#   the pool's stats there (Prometheus text at /metrics, JSON at /stats)
#   from the library's own thread, started when it reads this file, before
#   it forks (a worker closes the server's sockets at its fork), until it
#   exits. An address it cannot serve stops Unicorn's start, named.

require "workerlife"
require "workerlife/host"

workers = Integer(ENV.fetch("UNICORN_WORKERS", "2"))
worker_processes workers
timeout Integer(ENV.fetch("UNICORN_TIMEOUT", "60"))
preload_app false

spec = ENV.fetch("WORKERLIFE_POLICY", "")
begin
  wl_policy = WorkerLife::Policy.parse(spec)
rescue WorkerLife::Error => e
  raise ArgumentError, "workerlife: bad WORKERLIFE_POLICY #{spec.inspect}: #{e.message}"
end
# What Unicorn can carry out, declared to the library, which refuses at
# start a rule it cannot (heartbeat_timeout: nothing beats an idle worker's
# slot; max_surge: Unicorn's master starts its workers itself): the error
# names the key and the host, and ends Unicorn's start.
wl_caps = %i[master_kills watchdog_kills]
wl_pool = WorkerLife::Pool.new(wl_policy, slots: WorkerLife.host_slots(workers, wl_policy, wl_caps), shared: true)
wl_pool.set_host("Unicorn", wl_caps)

# A reload (SIGHUP) reads this file again into the same configurator, with
# a new pool: the server of the previous read lets go of the port first.
@wl_metrics&.stop
@wl_metrics = nil
wl_metrics_at = ENV.fetch("WORKERLIFE_METRICS", "").strip
unless wl_metrics_at.empty?
  begin
    @wl_metrics = wl_pool.serve_metrics(wl_metrics_at)
  rescue WorkerLife::Error => e
    raise ArgumentError, "workerlife: WORKERLIFE_METRICS=#{wl_metrics_at.inspect} cannot be served: #{e.message}"
  end
end
wl_metrics_line = @wl_metrics && "stats served at #{wl_metrics_at.sub(/:\d+\z/, ":#{@wl_metrics.port}")} (/metrics, /stats)"

# A line at a severity of the library's (an event's): Unicorn's logger has
# info, warn and error.
wl_log = lambda do |server, line, severity = :info|
  server.logger.send({ warning: :warn, error: :error }.fetch(severity, :info), "[workerlife] #{line}")
end

# A crash loop: every worker stopped, then Unicorn exits 1 naming it. Runs
# in the master's round (after_worker_exit); Unicorn's own stop reaps the
# workers through after_worker_exit again, which does nothing meanwhile.
wl_stopping = false
wl_crash_loop = lambda do |server, event|
  next if wl_stopping

  wl_stopping = true
  wl_log.call(server, "crash loop: workers keep crashing before min_uptime (#{event.line}); " \
                      "Unicorn forks its own workers, so their start cannot be delayed here: " \
                      "stopping Unicorn (exit 1) for its supervisor to back off", :error)
  server.stop(false) # SIGTERM to each worker, SIGKILL to any left after `timeout`
  server.pid = nil # its pid file goes, as at any stop
  wl_log.call(server, "Unicorn stopped: crash loop (exit 1)", :error)
  exit 1
end

# The master's round: adopt the workers Unicorn lists, tick, act on kills,
# log every event in the library's line and each distinct error once.
wl_round = lambda do |server|
  begin
    wl_pool.adopt_all((server.instance_variable_get(:@workers) || {}).keys)
  rescue WorkerLife::Error => e
    line = wl_pool.round_error("adopting: #{e.message}")
    wl_log.call(server, line) if line
  end
  wl_pool.tick.each do |a|
    next unless a.action == :kill

    begin
      WorkerLife.kill(a.pid, "KILL", a.identity)
    rescue WorkerLife::Error => e
      line = wl_pool.round_error("not signalling #{a.pid}: #{e.message}")
      wl_log.call(server, line) if line
    end
  end
  loop_event = nil
  wl_pool.events.each do |e|
    wl_log.call(server, e.line, e.severity)
    loop_event ||= e if e.kind == :crash_loop
  end
  wl_crash_loop.call(server, loop_event) if loop_event
end

wl_said_on = false
before_fork do |server, _worker|
  next if wl_stopping

  unless wl_said_on
    wl_log.call(server, wl_pool.startup_line)
    wl_log.call(server, wl_metrics_line) if wl_metrics_line
    wl_said_on = true
    # Before the first fork, once the app has booted (preload_app): the
    # master's memory as the workers' parent's, for relative limits
    # (max_uss=3x) and the copy-on-write figure. Without preload the
    # master holds no app: its first round reads it anyway.
    if server.preload_app
      begin
        wl_pool.read_parent
      rescue WorkerLife::Error => e
        wl_log.call(server, "reading the master's memory: #{e.message}", :warning)
      end
    end
  end
  wl_round.call(server)
end

after_fork do |server, _worker|
  begin
    WorkerLife::Host.start(wl_pool.claim(Process.pid), recycle_signal: "QUIT")
  rescue WorkerLife::Error => e
    wl_log.call(server, "worker #{Process.pid} runs unsupervised: #{e.message}")
  end
  # Leaving on request only when the exit is clean (Unicorn's graceful
  # stop ends in `exit`); an `exit 1` or an exception is a crash.
  at_exit { WorkerLife::Host.exiting if $!.nil? || ($!.is_a?(SystemExit) && $!.success?) }
end

# Ready once it can accept: a replacement that takes no request yet (Unicorn's
# workers race for each connection) still returns the recycle permit of the
# worker it follows, so the next worker due may leave.
after_worker_ready do |server, _worker|
  w = WorkerLife::Host.worker
  begin
    wl_pool.ready(w.slot) if w
  rescue WorkerLife::Error => e
    wl_log.call(server, "worker #{Process.pid}: ready: #{e.message}")
  end
end

after_worker_exit do |server, _worker, status|
  next if wl_stopping

  begin
    wl_pool.exited(status.pid, status)
  rescue WorkerLife::Error
    nil # not one of ours
  end
  wl_round.call(server)
end
